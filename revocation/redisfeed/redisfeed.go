package redisfeed

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Channel is the pub/sub channel of the feed. A message is a revoked
// session's id, or AllSessions when sessions were revoked that the
// publisher cannot name (all of a user's): listeners then refresh all they
// know.
const Channel = "authd:revocations"

// AllSessions is the message that stands for several unnamed sessions.
const AllSessions = "*"

// Publish tells every listener that sid ("" or AllSessions: several
// sessions) has been revoked.
func Publish(ctx context.Context, client redis.UniversalClient, sid string) error {
	if sid == "" {
		sid = AllSessions
	}
	return client.Publish(ctx, Channel, sid).Err()
}

// Subscribe calls onRevoked with each message of the feed (a sid or
// AllSessions) until ctx ends. It returns once the subscription is in
// place, so nothing published afterwards is missed.
func Subscribe(ctx context.Context, client redis.UniversalClient, onRevoked func(sid string)) error {
	sub := client.Subscribe(ctx, Channel)
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		sub.Close()
		return fmt.Errorf("subscribe %s: %w", Channel, err)
	}
	go func() {
		defer sub.Close()
		ch := sub.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case msg, ok := <-ch:
				if !ok {
					return
				}
				onRevoked(msg.Payload)
			}
		}
	}()
	return nil
}

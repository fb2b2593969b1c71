package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// redisLogger writes go-redis's messages (dial failures, pool trouble) to
// authd's logger, so that they share its format and --log-format json
// stays one JSON object per line.
type redisLogger struct{ logger *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, args ...any) {
	r.logger.WarnContext(ctx, strings.TrimPrefix(fmt.Sprintf(format, args...), "redis: "), "component", "redis")
}

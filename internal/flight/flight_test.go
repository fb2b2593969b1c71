package flight_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/internal/flight"
)

// Callers asking at once share one run and its result.
func TestGroup_OneRunPerKey(t *testing.T) {
	var g flight.Group[int]
	var runs atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]int, 5)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = g.Do(context.Background(), "k", 0, func(context.Context) (int, error) {
				runs.Add(1)
				<-release
				return 42, nil
			})
		}()
	}
	time.Sleep(20 * time.Millisecond) // let the callers join the run
	close(release)
	wg.Wait()
	if runs.Load() >= int64(len(results)) || results[0] != 42 {
		t.Fatalf("%d runs, results %v", runs.Load(), results)
	}
}

// A waiter returns when its own context ends; the run goes on for the
// others, unaffected by that cancellation.
func TestGroup_WaitersHonourTheirContext(t *testing.T) {
	var g flight.Group[string]
	release := make(chan struct{})
	started := make(chan struct{})
	other := make(chan error, 1)
	go func() {
		_, err := g.Do(context.Background(), "k", 0, func(ctx context.Context) (string, error) {
			close(started)
			select {
			case <-release:
				return "done", nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		})
		other <- err
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := g.Do(ctx, "k", 0, func(context.Context) (string, error) { return "mine", nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient waiter: %v, want its deadline", err)
	}
	close(release)
	if err := <-other; err != nil {
		t.Fatalf("the first caller's run was cancelled by the waiter leaving: %v", err)
	}
}

func TestGroup_TimeoutBoundsTheRun(t *testing.T) {
	var g flight.Group[int]
	_, err := g.Do(context.Background(), "k", 10*time.Millisecond, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run past its timeout: %v", err)
	}
}

// Limited runs at most once per interval on its clock; Force runs anyway.
func TestLimited_AtMostOncePerInterval(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))
	l := flight.NewLimited(clk, 5*time.Second, 0)
	var runs atomic.Int64
	fn := func(context.Context) error { runs.Add(1); return nil }
	for range 10 {
		if _, err := l.Do(context.Background(), fn); err != nil {
			t.Fatal(err)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("%d runs within one interval, want 1", runs.Load())
	}
	clk.Advance(5 * time.Second)
	if ran, _ := l.Do(context.Background(), fn); !ran || runs.Load() != 2 {
		t.Fatalf("after the interval: ran %v, runs %d", ran, runs.Load())
	}
	if err := l.Force(context.Background(), fn); err != nil || runs.Load() != 3 {
		t.Fatalf("Force: %v, runs %d", err, runs.Load())
	}
}

// A caller arriving during a run joins it and gets its error.
func TestLimited_JoinsTheRunInProgress(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))
	l := flight.NewLimited(clk, time.Minute, 0)
	release := make(chan struct{})
	boom := errors.New("boom")
	started := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := l.Do(context.Background(), func(context.Context) error { close(started); <-release; return boom })
		first <- err
	}()
	<-started
	joined := make(chan error, 1)
	go func() {
		ran, err := l.Do(context.Background(), func(context.Context) error { t.Error("a second run started"); return nil })
		if !ran {
			t.Error("the joiner reports no run")
		}
		joined <- err
	}()
	// An impatient joiner leaves when its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if _, err := l.Do(ctx, func(context.Context) error { t.Error("a third run started"); return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient joiner: %v", err)
	}
	close(release)
	if err := <-first; !errors.Is(err, boom) {
		t.Fatalf("first caller: %v", err)
	}
	if err := <-joined; !errors.Is(err, boom) {
		t.Fatalf("joiner: %v, want the run's error", err)
	}
}

package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/benchtest"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/sqlite"
)

// BenchmarkRotate measures one refresh-token rotation (the conditional
// UPDATE every Refresh makes) under synchronous=full, the default, and
// normal; "x-normal" is full's cost as a ratio to normal's in the same run.
// The 8-at-once variants rotate 8 sessions from 8 goroutines, as a loaded
// authd does: rotations waiting together share a commit (group commit), so
// "x-one-at-a-time" is their time per rotation as a ratio to the same
// mode's one at a time.
func BenchmarkRotate(b *testing.B) {
	var normal float64
	alone := map[string]float64{}
	for _, mode := range []string{"normal", "full"} {
		b.Run(mode, func(b *testing.B) {
			db, rotate := rotator(b, mode, 1)
			defer db.Close()
			for i := range b.N {
				rotate(0, i)
			}
			b.StopTimer()
			alone[mode] = benchtest.NsPerOp(b)
			if mode == "normal" {
				normal = alone[mode]
			} else if normal > 0 {
				b.ReportMetric(alone[mode]/normal, "x-normal")
			}
		})
	}
	for _, mode := range []string{"normal", "full"} {
		b.Run(mode+"/8-at-once", func(b *testing.B) {
			const writers = 8
			db, rotate := rotator(b, mode, writers)
			defer db.Close()
			var next atomic.Int64
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := 0; next.Add(1) <= int64(b.N); i++ {
						rotate(w, i)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if alone[mode] > 0 {
				b.ReportMetric(benchtest.NsPerOp(b)/alone[mode], "x-one-at-a-time")
			}
		})
	}
}

// rotator opens a database in mode with n sessions, and returns a function
// that spends the i-th refresh token of session s (each once, in order).
func rotator(b *testing.B, mode string, n int) (*sqlite.DB, func(s, i int)) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "authd.db"), sqlite.WithSynchronous(mode))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	u, err := db.CreateUser(ctx, "alice", "hash", now)
	if err != nil {
		b.Fatal(err)
	}
	rot := func(i int) store.Rotation {
		return store.Rotation{RefreshJTI: fmt.Sprint("r", i), RefreshIssuedAt: now, RefreshExpiresAt: now.Add(time.Hour),
			AccessJTI: fmt.Sprint("a", i), AccessIssuedAt: now, AccessExpiresAt: now.Add(time.Hour)}
	}
	for s := range n {
		sess := store.Session{ID: fmt.Sprint("s", s), UserID: u.ID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Current: rot(0)}
		if err := db.CreateSession(ctx, sess); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	return db, func(s, i int) {
		if err := db.Rotate(ctx, fmt.Sprint("s", s), fmt.Sprint("r", i), rot(i+1), now); err != nil {
			b.Error(err)
		}
	}
}

package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/sqlite"
)

// BenchmarkRotate measures one refresh-token rotation (the conditional
// UPDATE every Refresh makes) under synchronous=full, the default, and
// normal; "x-normal" is full's cost as a ratio to normal's in the same run.
func BenchmarkRotate(b *testing.B) {
	var normal float64
	for _, mode := range []string{"normal", "full"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "authd.db"), sqlite.WithSynchronous(mode))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			now := time.Now()
			u, err := db.CreateUser(ctx, "alice", "hash", now)
			if err != nil {
				b.Fatal(err)
			}
			rot := func(i int) store.Rotation {
				return store.Rotation{RefreshJTI: fmt.Sprint("r", i), RefreshIssuedAt: now, RefreshExpiresAt: now.Add(time.Hour),
					AccessJTI: fmt.Sprint("a", i), AccessIssuedAt: now, AccessExpiresAt: now.Add(time.Hour)}
			}
			sess := store.Session{ID: "s", UserID: u.ID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour), Current: rot(0)}
			if err := db.CreateSession(ctx, sess); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				if err := db.Rotate(ctx, "s", fmt.Sprint("r", i), rot(i+1), now); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if mode == "normal" {
				normal = perOp
			} else if normal > 0 {
				b.ReportMetric(perOp/normal, "x-normal")
			}
		})
	}
}

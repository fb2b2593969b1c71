package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxGroup bounds how many writes share one commit.
const maxGroup = 64

// errClosed answers a write sent after Close.
var errClosed = errors.New("store closed")

// groupCommit runs conditional writes from many callers on one goroutine,
// as many as are waiting in one transaction: one commit, so one fsync under
// SQLite's synchronous=full, for the lot. SQLite has one writer at a time
// anyway; queued here, writers wait on a channel instead of sleeping in
// SQLite's busy handler and retrying. Each caller is answered once its
// write is committed, or with the error that kept it from being.
type groupCommit struct {
	d       *DB
	writes  chan *groupWrite
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
}

// groupWrite is one caller's statement.
type groupWrite struct {
	ctx    context.Context
	query  string // rebound
	args   []any
	answer chan written // buffered: the writer never waits for the caller
}

// written is a write's outcome: rows changed, or the error.
type written struct {
	rows int64
	err  error
}

func newGroupCommit(d *DB) *groupCommit {
	g := &groupCommit{d: d, writes: make(chan *groupWrite), closing: make(chan struct{}), done: make(chan struct{})}
	go g.run()
	return g
}

// exec runs query in the next group and returns, once it is committed, the
// number of rows it changed.
func (g *groupCommit) exec(ctx context.Context, query string, args ...any) (int64, error) {
	w := &groupWrite{ctx: ctx, query: query, args: args, answer: make(chan written, 1)}
	select {
	case g.writes <- w:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-g.closing:
		return 0, errClosed
	}
	// Waited for even when ctx ends: the write may be under way, and the
	// caller must not report a failure that the database then commits.
	a := <-w.answer
	return a.rows, a.err
}

// close stops the writer once the group under way is committed.
func (g *groupCommit) close() {
	g.once.Do(func() { close(g.closing) })
	<-g.done
}

func (g *groupCommit) run() {
	defer close(g.done)
	group := make([]*groupWrite, 0, maxGroup)
	for {
		select {
		case w := <-g.writes:
			group = append(group[:0], w)
		case <-g.closing:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case w := <-g.writes:
				group = append(group, w)
			default:
				break more
			}
		}
		g.commit(group)
	}
}

// commit runs group in one transaction. A statement that fails (not one
// that changes no row) rolls the group back, and each write is then run
// alone, so that one bad write fails only its own caller.
func (g *groupCommit) commit(group []*groupWrite) {
	live := group[:0:0]
	for _, w := range group {
		if err := w.ctx.Err(); err != nil {
			w.answer <- written{err: err}
			continue
		}
		live = append(live, w)
	}
	if len(live) == 0 {
		return
	}
	if len(live) > 1 {
		rows, err := g.transaction(live)
		if err == nil {
			for i, w := range live {
				w.answer <- written{rows: rows[i]}
			}
			return
		}
	}
	for _, w := range live {
		rows, err := g.transaction([]*groupWrite{w})
		if err != nil {
			w.answer <- written{err: err}
			continue
		}
		w.answer <- written{rows: rows[0]}
	}
}

// transaction runs writes in one transaction, each with the pool's
// prepared statement, and commits it; rows[i] is what writes[i] changed.
func (g *groupCommit) transaction(writes []*groupWrite) (rows []int64, err error) {
	// Not a caller's context: the group outlives any one of them.
	ctx := context.Background()
	// Prepared before the transaction: preparing takes a connection of
	// the pool, which must not wait on writers waiting for this one.
	stmts := make([]*sql.Stmt, len(writes))
	for i, w := range writes {
		if stmts[i], err = g.d.prepared(ctx, w.query); err != nil {
			return nil, err
		}
	}
	tx, err := g.d.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows = make([]int64, len(writes))
	for i, w := range writes {
		res, err := tx.StmtContext(ctx, stmts[i]).ExecContext(ctx, w.args...)
		if err != nil {
			return nil, err
		}
		if rows[i], err = res.RowsAffected(); err != nil {
			return nil, err
		}
	}
	return rows, tx.Commit()
}

package tokens

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// TB is what the helpers need of a test: testing.TB has it, and so has
// Harness, for examples that have no *testing.T.
type TB interface {
	Helper()
	Cleanup(func())
	TempDir() string
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// Harness is a TB for examples: Fatal panics, Close runs the cleanups.
type Harness struct {
	mu       sync.Mutex
	cleanups []func()
}

// Helper does nothing.
func (h *Harness) Helper() {}

// Cleanup registers f to run at Close.
func (h *Harness) Cleanup(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cleanups = append(h.cleanups, f)
}

// TempDir creates a directory removed at Close.
func (h *Harness) TempDir() string {
	dir, err := os.MkdirTemp("", "authdtest-")
	if err != nil {
		panic(err)
	}
	h.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Fatal panics with args.
func (h *Harness) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

// Fatalf panics with the formatted message.
func (h *Harness) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Close runs the cleanups, last registered first.
func (h *Harness) Close() {
	h.mu.Lock()
	fs := h.cleanups
	h.cleanups = nil
	h.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// LogBuffer collects log output safely across goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf []byte
}

var _ io.Writer = (*LogBuffer)(nil)

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// String returns everything written.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

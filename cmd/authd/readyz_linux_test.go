package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// setFileSizeLimit sets the soft RLIMIT_FSIZE of process pid (prlimit(2)): past
// limit bytes, its writes to any file fail (EFBIG), as on a full disk. Go
// ignores SIGXFSZ, so the process lives on.
func setFileSizeLimit(t *testing.T, pid int, limit uint64) {
	t.Helper()
	// The soft limit only: the hard one stays unlimited, so that lowering
	// and raising it back needs no privilege.
	lim := syscall.Rlimit{Cur: limit, Max: ^uint64(0)}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_FSIZE),
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	if errno != 0 {
		t.Skipf("SKIPPED: prlimit(RLIMIT_FSIZE) on authd: %v", errno)
	}
}

// getStatus GETs url and returns its status and body.
func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// awaitStatus polls url until it answers want, for at most patience.
func awaitStatus(t *testing.T, url string, want int) string {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		code, body := getStatus(t, url)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %q; want %d within %s", url, code, body, want, patience)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// /readyz reflects whether authd can write, not only whether its database
// answers: when every write fails (here the process's file size limit, as
// a full disk does), readiness goes 503 within its probe's bound while
// liveness stays 200, and comes back once writes succeed again.
func TestE2E_ReadyzReflectsWhetherAuthdCanWrite(t *testing.T) {
	t.Parallel()
	srv := startProcess(t, t.TempDir(), nil, "--http-addr", "127.0.0.1:0")
	base := "http://" + srv.httpAddr
	if code, body := getStatus(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before: %d %q", code, body)
	}
	setFileSizeLimit(t, srv.cmd.Process.Pid, 1024)
	body := awaitStatus(t, base+"/readyz", http.StatusServiceUnavailable)
	if !strings.Contains(body, "cannot write") {
		t.Errorf("/readyz when writes fail: %q, want it to say the database cannot write", body)
	}
	if code, body := getStatus(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz when writes fail: %d %q; want 200 (the process serves)", code, body)
	}
	setFileSizeLimit(t, srv.cmd.Process.Pid, ^uint64(0))
	awaitStatus(t, base+"/readyz", http.StatusOK)
}

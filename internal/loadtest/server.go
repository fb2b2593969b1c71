package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// serverCPU is the CPU the servers run on (taskset -c), empty for any:
// pinned, a server's CPU per call is not blurred by the load generator's
// work on the same cores, and it runs with GOMAXPROCS 1.
var serverCPU = pinning()

// pinning pins the servers to CPU 0 when the machine has another CPU for
// the load (`make load` runs the load on CPU 1) and taskset to do it. The
// machine's CPUs, not this process's: under taskset it may have only one.
func pinning() string {
	online, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil || strings.TrimSpace(string(online)) == "0" {
		return ""
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return ""
	}
	return "0"
}

// server is a child process under load: authd or the greeter.
type server struct {
	name string
	cmd  *exec.Cmd
	addr string
	// ready is the submatches of the ready line: ready[1] is addr.
	ready  []string
	stderr *tail
	exited chan struct{} // closed once the process has exited
	err    error         // how it exited, set before exited is closed
}

// start runs a server and waits for the log line that gives its address.
// A server that exits first is reported with its stderr, which is how one
// learns that it was, say, missing a secret.
func start(env []string, ready *regexp.Regexp, bin string, args ...string) (*server, error) {
	s := &server{name: filepath.Base(bin), cmd: exec.Command(bin, args...), stderr: &tail{}, exited: make(chan struct{})}
	if serverCPU != "" {
		s.cmd = exec.Command("taskset", append([]string{"-c", serverCPU, bin}, args...)...)
	}
	s.cmd.Env = env
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	lines := bufio.NewScanner(io.TeeReader(pipe, s.stderr))
	for lines.Scan() {
		if m := ready.FindStringSubmatch(lines.Text()); m != nil {
			s.addr, s.ready = m[1], m
			break
		}
	}
	go func() {
		io.Copy(s.stderr, pipe) // until the process exits
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	if s.addr == "" {
		s.cmd.Process.Kill() // in case it only wrote a line too long to scan
		<-s.exited
		return nil, fmt.Errorf("%s exited before serving (%v); its stderr:\n%s", s.name, s.err, s.stderr)
	}
	return s, nil
}

// failed adds to err the end of the server's stderr, which logs why it
// refused a call, and how it exited if it has.
func (s *server) failed(err error) error {
	select {
	case <-s.exited:
		return fmt.Errorf("%w\n%s exited (%v); the end of its stderr:\n%s", err, s.name, s.err, s.stderr.last(20))
	default:
		return fmt.Errorf("%w\nthe end of %s's stderr:\n%s", err, s.name, s.stderr.last(20))
	}
}

// stop interrupts the server and waits for it, killing it after 10 s.
func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// cpu is the server's user+system CPU time so far (Linux /proc).
func (s *server) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// tail keeps the last 16 KiB written to it: a server logs every call, and
// only the end of that says why it stopped.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 16 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// last returns the last n lines.
func (t *tail) last(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := bytes.TrimRight(t.buf, "\n")
	i := len(b)
	for ; n > 0 && i > 0; n-- {
		i = bytes.LastIndexByte(b[:i], '\n')
	}
	return string(b[i+1:])
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

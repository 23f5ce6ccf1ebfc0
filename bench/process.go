package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// process is a server the bench started.
type process struct {
	name string
	cmd  *exec.Cmd
	url  string
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

// peakRSS reads the process's high-water resident set size (VmHWM).
func (p *process) peakRSS() (int64, error) { return p.status("VmHWM") }

// rss reads the process's resident set size now (VmRSS).
func (p *process) rss() (int64, error) { return p.status("VmRSS") }

// status reads one size, in kB, of the process's /proc status.
func (p *process) status(field string) (int64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read %s status: %w", p.name, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			_, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

// resetPeakRSS starts the high-water mark again from the current RSS (Linux's clear_refs "5"),
// so that peakRSS tells the peak of one phase. It reports whether that was possible.
func (p *process) resetPeakRSS() bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0) == nil
}

// startPlanoAuth starts the real binary with the extra environment given.
func startPlanoAuth(ctx context.Context, name, bin, logDir string, env ...string) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logs, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(append(os.Environ(), "PLANOAUTH_ADDR="+addr), env...)
	cmd.Stdout, cmd.Stderr = logs, logs // the access log goes to a file, as it would in production
	return startAndWait(name, cmd, "http://"+addr, "/readyz")
}

// startBaseline starts this program again as one of the baseline servers (see baseline.go).
func startBaseline(ctx context.Context, kind string, env []string, args ...string) (*process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"-serve", kind, "-addr", addr}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return startAndWait(kind, cmd, "http://"+addr, "/")
}

// startAndWait starts cmd and polls path until the server answers, for up to a minute.
func startAndWait(name string, cmd *exec.Cmd, base, path string) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, url: base}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + path)
		if err == nil {
			res.Body.Close()
			if res.StatusCode < 500 {
				return p, nil
			}
		}
		time.Sleep(100 * time.Millisecond) // waiting for another process to come up
	}
	p.stop()
	return nil, fmt.Errorf("%s did not come up at %s", name, base)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// raiseFileLimit lets wrk open one socket per connection of the overload test: the children
// inherit the soft limit raised to the hard one.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

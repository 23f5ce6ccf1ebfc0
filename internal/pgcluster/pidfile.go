package pgcluster

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Line numbers (from 1) in postmaster.pid, which a running server keeps up
// to date; see pidfile.h in the PostgreSQL sources.
const (
	pidLinePort      = 4
	pidLineSocketDir = 5
	pidLineStatus    = 8 // "starting", "ready", "stopping" or "standby"
)

// readPidFileLine returns one line of dataDir's postmaster.pid, or "" when
// the server has not written it yet.
func readPidFileLine(dataDir string, line int) (string, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return "", fmt.Errorf("read postmaster.pid: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) < line {
		return "", nil
	}
	return strings.TrimSpace(lines[line-1]), nil
}

// readSocket returns the socket folder and port of the server running from dataDir.
func readSocket(dataDir string) (socketDir string, port int, err error) {
	socketDir, err = readPidFileLine(dataDir, pidLineSocketDir)
	if err != nil {
		return "", 0, err
	}
	if socketDir == "" {
		return "", 0, fmt.Errorf("server in %s has no unix socket", dataDir)
	}
	portText, err := readPidFileLine(dataDir, pidLinePort)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(portText)
	if err != nil {
		return "", 0, fmt.Errorf("port in postmaster.pid: %w", err)
	}
	return socketDir, port, nil
}

// fileOwner returns the uid owning a file.
func fileOwner(info fs.FileInfo) int {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

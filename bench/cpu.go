package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat CPU times (100 on Linux).
const clockTicks = 100

// cpuTime returns the user+system CPU time a process has used.
func cpuTime(pid int) time.Duration {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// postgresCPU is the CPU time of every PostgreSQL process on the machine (the bench's cluster
// is the only one running while it measures).
func postgresCPU() time.Duration {
	var total time.Duration
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm")); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			total += cpuTime(pid)
		}
	}
	return total
}

// cpuSample is the CPU used by each party during one measurement.
type cpuSample struct{ server, postgres, generator time.Duration }

func sampleCPU(server *process) cpuSample {
	return cpuSample{server: cpuTime(server.cmd.Process.Pid), postgres: postgresCPU(), generator: cpuTime(os.Getpid())}
}

func (a cpuSample) perRequest(b cpuSample, requests int) cpuSample {
	if requests == 0 {
		return cpuSample{}
	}
	n := time.Duration(requests)
	return cpuSample{server: (b.server - a.server) / n, postgres: (b.postgres - a.postgres) / n, generator: (b.generator - a.generator) / n}
}

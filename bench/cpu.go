package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc CPU times (100 on Linux).
const clockTicks = 100

// procStat returns a process's parent and the user+system CPU time it has used, and that of
// its children that exited and were waited for.
func procStat(pid int) (ppid int, cpu, exitedChildren time.Duration, ok bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, 0, false
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) < 15 {
		return 0, 0, 0, false
	}
	ticks := func(i int) time.Duration {
		n, _ := strconv.ParseInt(fields[i], 10, 64)
		return time.Duration(n) * time.Second / clockTicks
	}
	ppid, _ = strconv.Atoi(fields[1])
	return ppid, ticks(11) + ticks(12), ticks(13) + ticks(14), true
}

func cpuOf(pid int) time.Duration {
	_, cpu, _, _ := procStat(pid)
	return cpu
}

// clusterCPU is the CPU time of the bench's PostgreSQL: its postmaster, the processes it forked
// (backends, autovacuum, ...) and those of them that exited, so that the total only grows.
// Other clusters on the machine (other people's tests) are not counted.
func clusterCPU(postmaster int) time.Duration {
	for range 3 {
		_, own, exited, _ := procStat(postmaster)
		children := childrenCPU(postmaster)
		// A child reaped during the scan is in neither figure: scan again.
		if _, _, exitedAfter, _ := procStat(postmaster); exitedAfter == exited {
			return own + exited + children
		}
	}
	_, own, exited, _ := procStat(postmaster)
	return own + exited + childrenCPU(postmaster)
}

func childrenCPU(parent int) time.Duration {
	var total time.Duration
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, cpu, _, ok := procStat(pid); ok && ppid == parent {
			total += cpu
		}
	}
	return total
}

// machineBusy is the CPU time the CPUs ids (this run's) have spent busy (not idle or waiting),
// and the part of it the hypervisor took for other guests (steal): their own lines of
// /proc/stat, so that a run given some of a larger machine's CPUs counts no load of the others.
func machineBusy(ids []int) (busy, stolen time.Duration) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	var busyTicks, stolenTicks int64
	for _, line := range strings.Split(string(stat), "\n") {
		fields := strings.Fields(line) // cpuN user nice system idle iowait irq softirq steal ...
		if len(fields) == 0 {
			continue
		}
		id, err := strconv.Atoi(strings.TrimPrefix(fields[0], "cpu"))
		if !strings.HasPrefix(fields[0], "cpu") || err != nil || !slices.Contains(ids, id) {
			continue
		}
		for i, f := range fields {
			if i == 0 || i == 4 || i == 5 || i > 8 { // the label, idle, iowait; guest time is in user already
				continue
			}
			n, _ := strconv.ParseInt(f, 10, 64)
			busyTicks += n
			if i == 8 {
				stolenTicks += n
			}
		}
	}
	return time.Duration(busyTicks) * time.Second / clockTicks, time.Duration(stolenTicks) * time.Second / clockTicks
}

// processes are the bench's own: the servers it started and its PostgreSQL.
type processes struct {
	servers    []*process
	postmaster int
	cpus       int   // the CPUs this run may use: of the servers and the generator
	cpuIDs     []int // their ids
}

// cpuSnapshot is the CPU used so far by each party.
type cpuSnapshot struct {
	at                        time.Time
	target, servers, postgres time.Duration
	bench, machine, stolen    time.Duration
	cpus                      int
}

func (p *processes) sampleCPU(target *process) cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), postgres: clusterCPU(p.postmaster), bench: cpuOf(os.Getpid()), cpus: p.cpus}
	s.machine, s.stolen = machineBusy(p.cpuIDs)
	for _, srv := range p.servers {
		cpu := cpuOf(srv.cmd.Process.Pid)
		s.servers += cpu
		if srv == target {
			s.target = cpu
		}
	}
	return s
}

// cpuUse is one measurement's CPU per answer of the server measured, PostgreSQL and wrk, and
// the share of the machine's CPUs that processes not the bench's kept busy meanwhile (stolen:
// the part of it the hypervisor gave other guests, which no process here shows).
type cpuUse struct {
	server, postgres, generator time.Duration
	others, stolen              float64
}

func (a cpuSnapshot) until(b cpuSnapshot, generator time.Duration, answered int) cpuUse {
	ours := (b.servers - a.servers) + (b.postgres - a.postgres) + (b.bench - a.bench) + generator
	capacity := b.at.Sub(a.at) * time.Duration(b.cpus)
	u := cpuUse{}
	if capacity > 0 {
		u.others = max(float64(b.machine-a.machine-ours)/float64(capacity), 0)
		u.stolen = float64(b.stolen-a.stolen) / float64(capacity)
	}
	if answered > 0 {
		n := time.Duration(answered)
		u.server, u.postgres, u.generator = (b.target-a.target)/n, (b.postgres-a.postgres)/n, generator/n
	}
	return u
}

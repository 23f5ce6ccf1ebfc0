package main

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

// TestSplitCarriesToTheRunAgain: the split the first run chose is the one the run on the
// servers' CPUs reads back, and it puts wrk, and only wrk, on the generator's CPUs.
func TestSplitCarriesToTheRunAgain(t *testing.T) {
	s := cpuSplit{machine: 4, all: cpuList([]int{0, 1, 2, 3}), servers: cpuList([]int{0, 1, 2}), generator: cpuList([]int{3})}
	got, err := parseSplit(s.encode())
	if err != nil || got != s {
		t.Fatalf("parseSplit(%q) = %+v, %v; want %+v", s.encode(), got, err, s)
	}
	if name, args := got.generatorCommand("-t", "2"); name != "taskset" || !slices.Equal(args, []string{"-c", "3", "wrk", "-t", "2"}) {
		t.Errorf("split generator command = %s %v", name, args)
	}
	if name, args := (cpuSplit{machine: 2}).generatorCommand("-t", "2"); name != "wrk" || !slices.Equal(args, []string{"-t", "2"}) {
		t.Errorf("shared generator command = %s %v", name, args)
	}
	for _, bad := range []string{"", "2;0", "2;0,1;0", "x;0,1;0;1", "0;;0;1", "2;0;0;1", "2;0,x;0;x"} {
		if _, err := parseSplit(bad); err == nil {
			t.Errorf("parseSplit(%q) accepted", bad)
		}
	}
}

// TestRunAgainPassesOnTermination: a SIGTERM sent to the first run alone (kill PID, a
// supervisor, a CI timeout that signals one process) reaches the run it started, which stops,
// and the first run exits as a shell reports a process killed by it (128+15), instead of
// ignoring it while the other run loads the CPUs for minutes more.
func TestRunAgainPassesOnTermination(t *testing.T) {
	cmd := exec.Command("sh", "-c", "echo ready; exec sleep 600")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	status := make(chan int, 1)
	go func() { status <- runAgain(cmd) }()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the run again said %q, %v", line, err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-status:
		if got != 128+int(syscall.SIGTERM) {
			t.Errorf("exit status %d after SIGTERM, want %d", got, 128+int(syscall.SIGTERM))
		}
	case <-time.After(20 * time.Second): // a guard, not a measure: the run again never stops by itself
		_ = cmd.Process.Kill()
		t.Fatal("SIGTERM to the first run left the run it started running")
	}
}

// TestMachineBusyCountsTheRunsCPUsOnly: the busy time of this run's CPUs is their own lines of
// /proc/stat, so a subset counts no more than the whole, no CPU counts nothing, and the time the
// hypervisor stole is part of the busy time.
func TestMachineBusyCountsTheRunsCPUsOnly(t *testing.T) {
	ids, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	all, allStolen := machineBusy(ids)
	first, firstStolen := machineBusy(ids[:1])
	if all <= 0 || first <= 0 || first > all {
		t.Errorf("busy: all %v, first CPU %v", all, first)
	}
	if allStolen < 0 || allStolen > all || firstStolen > allStolen || firstStolen > first {
		t.Errorf("stolen: all %v of %v, first CPU %v of %v", allStolen, all, firstStolen, first)
	}
	if none, noneStolen := machineBusy(nil); none != 0 || noneStolen != 0 {
		t.Errorf("no CPU was busy %v (stolen %v)", none, noneStolen)
	}
}

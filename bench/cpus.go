package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// cpuSplit is how the run shares the CPUs it may use. Split, the load generator (wrk) runs on
// CPUs of its own and everything else (PostgreSQL, the servers, the raw hashes, the bench) on
// the rest, so that the generator neither takes CPU from the server it measures nor preempts
// its threads: on 2 shared CPUs the fixed-answer handler's own p99 at peak was about 5 ms,
// split about 1.5 ms (README, "Benchmarks").
type cpuSplit struct {
	machine   int    // the CPUs this run may use
	all       string // their ids, as a taskset list
	servers   string // taskset list of the servers' CPUs; "" when shared
	generator string // taskset list of the generator's CPUs; "" when shared
}

func (s cpuSplit) split() bool { return s.generator != "" }

// splitEnv carries the split to the bench run again on the servers' CPUs.
const splitEnv = "PLANOAUTH_BENCH_CPUS"

// onServerCPUs is the split asked for with -generator-cpus. The first time, it runs this bench
// again on the servers' CPUs (taskset, so that PostgreSQL, the servers and the raw hashes it
// starts inherit them) and exits with that run's status; in that run, it returns the split.
// generatorCPUs 0, or a machine with too few CPUs for it, shares every CPU.
func onServerCPUs(generatorCPUs int) (cpuSplit, error) {
	if v := os.Getenv(splitEnv); v != "" {
		return parseSplit(v)
	}
	ids, err := allowedCPUs()
	if err != nil {
		return cpuSplit{}, err
	}
	if generatorCPUs <= 0 || generatorCPUs >= len(ids) {
		return cpuSplit{machine: len(ids), all: cpuList(ids)}, nil
	}
	cut := len(ids) - generatorCPUs
	s := cpuSplit{machine: len(ids), all: cpuList(ids), servers: cpuList(ids[:cut]), generator: cpuList(ids[cut:])}
	os.Exit(runAgainOn(s))
	return s, nil
}

// allowedCPUs are the ids of the CPUs this process may run on.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("read the CPUs this process may use: %w", err)
	}
	var ids []int
	for id := 0; len(ids) < set.Count(); id++ {
		if set.IsSet(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// cpuIDs reads a list cpuList wrote; nil when it is not one.
func cpuIDs(list string) []int {
	var ids []int
	for _, part := range strings.Split(list, ",") {
		id, err := strconv.Atoi(part)
		if err != nil || id < 0 {
			return nil
		}
		ids = append(ids, id)
	}
	return ids
}

func cpuList(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return strings.Join(parts, ",")
}

func (s cpuSplit) encode() string {
	return fmt.Sprintf("%d;%s;%s;%s", s.machine, s.all, s.servers, s.generator)
}

func parseSplit(v string) (cpuSplit, error) {
	parts := strings.Split(v, ";")
	if len(parts) != 4 {
		return cpuSplit{}, fmt.Errorf("%s=%q: want MACHINE;ALL;SERVERS;GENERATOR", splitEnv, v)
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 1 || len(cpuIDs(parts[1])) != n {
		return cpuSplit{}, fmt.Errorf("%s=%q: no CPU count and list", splitEnv, v)
	}
	return cpuSplit{machine: n, all: parts[1], servers: parts[2], generator: parts[3]}, nil
}

// runAgainOn runs this bench again, with the same arguments, on s's server CPUs, and returns its
// exit status (see runAgain).
func runAgainOn(s cpuSplit) int {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -generator-cpus needs taskset (Debian's util-linux); -generator-cpus 0 shares the CPUs")
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	cmd := exec.Command(taskset, append([]string{"-c", s.servers, self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), splitEnv+"="+s.encode())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	return runAgain(cmd)
}

// runAgain runs cmd, the bench run again, and returns its exit status. A signal to stop that
// reaches this run is passed on: an interrupt from the terminal reaches both (one process group)
// and the other run takes one or two alike, but a SIGTERM sent to this process alone (kill PID,
// a supervisor) must stop the other too, not be ignored while it loads the CPUs for minutes.
func runAgain(cmd *exec.Cmd) int {
	stops := make(chan os.Signal, 2)
	signal.Notify(stops, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stops)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-stops:
			_ = cmd.Process.Signal(sig)
		case err := <-done:
			return exitStatus(err)
		}
	}
}

// exitStatus is the status a shell would give for a run that ended with err: its code, or
// 128+the signal that killed it.
func exitStatus(err error) int {
	exit := (*exec.ExitError)(nil)
	switch {
	case err == nil:
		return 0
	case !errors.As(err, &exit):
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return exit.ExitCode()
}

// generatorCommand is wrk with args, on the generator's CPUs when split.
func (s cpuSplit) generatorCommand(args ...string) (string, []string) {
	if !s.split() {
		return "wrk", args
	}
	return "taskset", append([]string{"-c", s.generator, "wrk"}, args...)
}

// describe says where the generator runs, for the report.
func (s cpuSplit) describe() string {
	if !s.split() {
		return "generator, servers and PostgreSQL on the same CPUs"
	}
	return fmt.Sprintf("the generator on CPU %s of its own; servers, PostgreSQL and the raw hashes on CPU %s", s.generator, s.servers)
}

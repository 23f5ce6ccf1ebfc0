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
		return cpuSplit{machine: len(ids)}, nil
	}
	cut := len(ids) - generatorCPUs
	s := cpuSplit{machine: len(ids), servers: cpuList(ids[:cut]), generator: cpuList(ids[cut:])}
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

func cpuList(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return strings.Join(parts, ",")
}

func (s cpuSplit) encode() string { return fmt.Sprintf("%d;%s;%s", s.machine, s.servers, s.generator) }

func parseSplit(v string) (cpuSplit, error) {
	parts := strings.Split(v, ";")
	if len(parts) != 3 {
		return cpuSplit{}, fmt.Errorf("%s=%q: want MACHINE;SERVERS;GENERATOR", splitEnv, v)
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 1 {
		return cpuSplit{}, fmt.Errorf("%s=%q: no CPU count", splitEnv, v)
	}
	return cpuSplit{machine: n, servers: parts[1], generator: parts[2]}, nil
}

// runAgainOn runs this bench again, with the same arguments, on s's server CPUs, and returns its
// exit status. Interrupts reach both (one process group): this one waits for the other to stop.
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
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	cmd := exec.Command(taskset, append([]string{"-c", s.servers, self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), splitEnv+"="+s.encode())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if exit := (*exec.ExitError)(nil); errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
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

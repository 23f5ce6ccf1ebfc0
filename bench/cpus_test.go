package main

import (
	"slices"
	"testing"
)

// TestSplitCarriesToTheRunAgain: the split the first run chose is the one the run on the
// servers' CPUs reads back, and it puts wrk, and only wrk, on the generator's CPUs.
func TestSplitCarriesToTheRunAgain(t *testing.T) {
	s := cpuSplit{machine: 4, servers: cpuList([]int{0, 1, 2}), generator: cpuList([]int{3})}
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
	for _, bad := range []string{"", "2;0", "x;0;1", "0;0;1"} {
		if _, err := parseSplit(bad); err == nil {
			t.Errorf("parseSplit(%q) accepted", bad)
		}
	}
}

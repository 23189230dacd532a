package main

import (
	"os"
	"runtime"
	"testing"
)

// TestTuneProcs: the loop count is the configured one, or half the cores
// (at least one); the Ps are doubled only for the event loop.
func TestTuneProcs(t *testing.T) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		t.Skip("GOMAXPROCS is set in the environment: tuneProcs keeps it")
	}
	cores := startProcs()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))

	procs, loops := tuneProcs(true, 0)
	if want := max(1, cores/2); loops != want || procs != 2*cores || runtime.GOMAXPROCS(0) != 2*cores {
		t.Errorf("default: %d Ps (GOMAXPROCS %d), %d loops; want %d Ps, %d loops on %d cores",
			procs, runtime.GOMAXPROCS(0), loops, 2*cores, want, cores)
	}
	if procs, loops := tuneProcs(true, 5); loops != 5 || procs != 2*cores {
		t.Errorf("event_loops 5: %d Ps, %d loops; want %d Ps, 5 loops", procs, loops, 2*cores)
	}
	runtime.GOMAXPROCS(cores)
	if procs, loops := tuneProcs(false, 5); loops != 0 || procs != cores {
		t.Errorf("without the loop: %d Ps, %d loops; want %d Ps (unchanged), 0 loops", procs, loops, cores)
	}
}

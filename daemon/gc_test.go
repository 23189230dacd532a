package daemon

import (
	"os"
	"runtime"
	"testing"
)

// TestProcsFor: the loop count is the configured one, or one per core
// (half of GOMAXPROCS when it is set, at least one); the Ps are twice the
// cores unless GOMAXPROCS is set.
func TestProcsFor(t *testing.T) {
	for _, c := range []struct {
		base       int
		set        bool
		configured int
		procs      int
		loops      int
	}{
		{1, false, 0, 2, 1},
		{2, false, 0, 4, 2},
		{3, false, 0, 6, 3},
		{8, false, 0, 16, 8},
		{8, false, 8, 16, 8},
		{2, false, 3, 4, 3},
		{1, true, 0, 1, 1},
		{4, true, 0, 4, 2},
		{4, true, 6, 4, 6},
	} {
		procs, loops := procsFor(c.base, c.set, c.configured)
		if procs != c.procs || loops != c.loops {
			t.Errorf("procsFor(%d cores, GOMAXPROCS set %v, event_loops %d) = %d Ps, %d loops; want %d, %d",
				c.base, c.set, c.configured, procs, loops, c.procs, c.loops)
		}
	}
}

// TestTuneProcs: serve's GOMAXPROCS is doubled for the event loop unless
// the environment sets it, and left alone without the loop.
func TestTuneProcs(t *testing.T) {
	cores := startProcs()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))

	t.Setenv("GOMAXPROCS", "3") // restored when the test ends
	runtime.GOMAXPROCS(cores)
	if procs, loops := tuneProcs(true, 0); procs != cores || loops != max(1, cores/2) || runtime.GOMAXPROCS(0) != cores {
		t.Errorf("GOMAXPROCS set: %d Ps (GOMAXPROCS %d), %d loops; want %d Ps unchanged, %d loops",
			procs, runtime.GOMAXPROCS(0), loops, cores, max(1, cores/2))
	}
	os.Unsetenv("GOMAXPROCS")
	if procs, loops := tuneProcs(true, 5); procs != 2*cores || loops != 5 || runtime.GOMAXPROCS(0) != 2*cores {
		t.Errorf("GOMAXPROCS not set: %d Ps (GOMAXPROCS %d), %d loops; want %d Ps, 5 loops",
			procs, runtime.GOMAXPROCS(0), loops, 2*cores)
	}
	runtime.GOMAXPROCS(cores)
	if procs, loops := tuneProcs(false, 5); procs != cores || loops != 0 || runtime.GOMAXPROCS(0) != cores {
		t.Errorf("without the loop: %d Ps, %d loops; want %d Ps (unchanged), 0 loops", procs, loops, cores)
	}
}

package daemon

import (
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
)

// ServeGCPercent is the garbage collector's target in serve when GOGC is
// not set: collect once the heap has grown to five times what was live after
// the last collection, instead of Go's default of twice. serve's live heap
// is small (a few MB) and a busy router allocates quickly, so with the
// default it collects several times a second under load, and every mark
// phase takes one of the process's Ps for a few milliseconds: on two cores
// that shows in the p99. bench/README.md ("GC target") has the measurement:
// p99 at a fixed 5,000 req/s lower in 8 of 9 alternating rounds (by about
// 15%), RSS after load 36 MB instead of 23 MB. GOGC, when set, wins.
const ServeGCPercent = 400

// tuneGC applies ServeGCPercent unless GOGC is set, and returns the target
// in force.
func tuneGC() int {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(ServeGCPercent)
	}
	return gcPercent()
}

// gcPercent reads the garbage collector's target in force (-1: off).
func gcPercent() int {
	s := []rtmetrics.Sample{{Name: "/gc/gogc:percent"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 100
	}
	return int(int64(s[0].Value.Uint64()))
}

// tuneProcs sizes the scheduler for the event-loop data path and returns
// GOMAXPROCS in force and the number of event loops per server: loops when
// it is positive (`router.event_loops`), else one per core (half of
// GOMAXPROCS when the environment sets it), at least one.
//
// One per core, as nginx's `worker_processes auto`: a single loop is one
// thread, and on a machine whose cores the apps keep busy every wake-up of
// another thread can preempt it, stalling every connection it holds while
// the cores sit partly idle (8-9% idle under the slow-clients bench, where
// nginx's two workers left 1-2%). On the 2-core AMD EPYC machine of
// 2026-12-07, two loops against one: slow clients 1.10x nginx's req/s
// against 0.80x, and under wrk at saturation p99 1.003x nginx's against
// 1.054x at 0.99x its req/s against 0.85x (bench/README.md, "What changed:
// a loop per core again"). The 2026-11-27 choice of one loop per two cores
// was measured on an Intel Xeon, under wrk only.
//
// Each loop keeps a P busy in system calls while it has work, and the
// runtime hands such a P to other goroutines only when its monitor gets to
// it (up to 10 ms when it is otherwise idle): with one loop per core and a
// P per core, the API's and health checks' goroutines waited that long for
// a P under load (a switch's fresh health check took 9.6 ms instead of
// 1.8 ms). So serve runs twice as many Ps as cores, unless GOMAXPROCS is
// set, in which case that many Ps are used and half of them run loops.
// Without the loop it changes nothing.
// It may be called again (tests run serve in-process): the size is taken
// from GOMAXPROCS as the process started.
func tuneProcs(loop bool, loops int) (int, int) {
	if !loop {
		return runtime.GOMAXPROCS(0), 0
	}
	_, set := os.LookupEnv("GOMAXPROCS")
	procs, loops := procsFor(startProcs(), set, loops)
	runtime.GOMAXPROCS(procs)
	return procs, loops
}

// procsFor is tuneProcs' arithmetic: the Ps and loops for base cores (or
// GOMAXPROCS, when set in the environment) and the configured loop count
// (0 for the default: half the Ps, that is one per core unless GOMAXPROCS
// is set).
func procsFor(base int, gomaxprocsSet bool, configured int) (procs, loops int) {
	procs = 2 * base
	if gomaxprocsSet {
		procs = base
	}
	loops = configured
	if loops <= 0 {
		loops = max(1, procs/2)
	}
	return procs, loops
}

// startProcs is GOMAXPROCS before tuneProcs first changed it.
var startProcs = sync.OnceValue(func() int { return runtime.GOMAXPROCS(0) })

package main

import (
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
)

// serveGCPercent is the garbage collector's target in serve when GOGC is
// not set: collect once the heap has grown to five times what was live after
// the last collection, instead of Go's default of twice. serve's live heap
// is small (a few MB) and a busy router allocates quickly, so with the
// default it collects several times a second under load, and every mark
// phase takes one of the process's Ps for a few milliseconds: on two cores
// that shows in the p99. bench/README.md ("GC target") has the measurement:
// p99 at a fixed 5,000 req/s lower in 8 of 9 alternating rounds (by about
// 15%), RSS after load 36 MB instead of 23 MB. GOGC, when set, wins.
const serveGCPercent = 400

// tuneGC applies serveGCPercent unless GOGC is set, and returns the target
// in force.
func tuneGC() int {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
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
// it is positive (`router.event_loops`), else half the cores, at least one.
//
// Half, not one per core: serve shares its machine with the apps it fronts
// (the process driver runs both colors beside it), and a loop with work
// keeps its core busy. On two cores, with the load generator and the
// backend on the same cores, one loop gave a tighter latency distribution
// under wrk than two (p99 0.93x-0.96x nginx's instead of 1.03x-1.05x, at
// the same req/s as nginx instead of 3-7% more; bench/README.md, "What
// changed: one loop per two cores"), and nginx's own best runs were those
// where the kernel happened to give one worker every connection.
//
// Each loop keeps a P busy in system calls while it has work, and the
// runtime hands such a P to other goroutines only when its monitor gets to
// it (up to 10 ms when it is otherwise idle): with one loop per core and a
// P per core, the API's and health checks' goroutines waited that long for
// a P under load (a switch's fresh health check took 9.6 ms instead of
// 1.8 ms). So serve runs twice as many Ps as cores, unless GOMAXPROCS is
// set, in which case that many Ps are used and the cores are taken to be
// that many too. Without the loop it changes nothing.
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
// (0 for the default).
func procsFor(base int, gomaxprocsSet bool, configured int) (procs, loops int) {
	loops = configured
	if loops <= 0 {
		loops = max(1, base/2)
	}
	if gomaxprocsSet {
		return base, loops
	}
	return 2 * base, loops
}

// startProcs is GOMAXPROCS before tuneProcs first changed it.
var startProcs = sync.OnceValue(func() int { return runtime.GOMAXPROCS(0) })

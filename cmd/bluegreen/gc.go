package main

import (
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
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

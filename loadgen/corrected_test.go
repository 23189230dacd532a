package loadgen

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestCorrectedLatencyChargesTheStallToTheRequestsQueuedBehindIt runs a fixed
// rate on one connection against a server that stalls one response for
// 200ms. The requests scheduled during the stall can only be sent after it:
// measured from their actual send they look fast (Latency shows the stall in
// one request only, so its p99 misses it), measured from their scheduled send
// time they waited up to 200ms (CorrectedLatency's p90 and p99 show it).
func TestCorrectedLatencyChargesTheStallToTheRequestsQueuedBehindIt(t *testing.T) {
	const (
		rate     = 200 // one request every 5ms
		requests = 200
		stall    = 200 * time.Millisecond // 40 requests fall due during it
		stalled  = 20                     // the stalled request's number
	)
	s := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == stalled {
			select { // the stall under test, not a synchronisation
			case <-time.After(stall):
			case <-r.Context().Done():
			}
		}
		okHandler(n, w, r)
	})
	res := run(t, Options{URL: s.URL, Connections: 1, Rate: rate, Requests: requests})
	if res.OK != requests {
		t.Fatalf("got %v, want %d ok", res, requests)
	}
	l, c := res.Latency, res.CorrectedLatency
	t.Logf("from the actual send: %+v; from the schedule: %+v", l, c)
	if l.Max < stall {
		t.Fatalf("Latency.Max = %v, want >= the %v stall", l.Max, stall)
	}
	// Only 1 request in 200 was slow from its own send: p99 (the 198th of
	// 200) is a fast one. 100ms leaves room for a slow, race-enabled run.
	if l.P99 >= stall/2 {
		t.Errorf("Latency.P99 = %v, want < %v: only the stalled request itself was slow", l.P99, stall/2)
	}
	// From the schedule, the requests due during the stall waited for it:
	// the ones due 5ms, 10ms, ... after the stalled one waited about 195ms,
	// 190ms, ... So the 3rd slowest (p99) waited about 190ms and the 21st
	// slowest (p90) about 100ms.
	if c.P99 < stall*3/4 {
		t.Errorf("CorrectedLatency.P99 = %v, want >= %v: the requests queued behind the stall", c.P99, stall*3/4)
	}
	if c.P90 < stall/4 {
		t.Errorf("CorrectedLatency.P90 = %v, want >= %v: about 40 requests queued behind the stall", c.P90, stall/4)
	}
	if c.Max < l.Max || c.P999 < l.P999 || c.P99 < l.P99 || c.P90 < l.P90 || c.P50 < l.P50 {
		t.Errorf("CorrectedLatency %+v below Latency %+v: a request cannot be sent before it is due", c, l)
	}
}

func TestCorrectedLatencyIsZeroWithoutRate(t *testing.T) {
	s := newServer(t, okHandler)
	res := run(t, Options{URL: s.URL, Connections: 2, Requests: 100})
	if res.OK != 100 || res.Latency.Max == 0 {
		t.Fatalf("got %v", res)
	}
	if res.CorrectedLatency != (Percentiles{}) {
		t.Errorf("CorrectedLatency = %+v without Rate, want zero", res.CorrectedLatency)
	}
}

// TestResetDropsWhatCameBefore holds the 11th request at the server, resets
// the counts while it is in flight, then lets the run finish: the result
// counts the request that was in flight and the ones after it, nothing
// before, and no dial (the connection was opened before the Reset).
func TestResetDropsWhatCameBefore(t *testing.T) {
	hold := make(chan struct{})
	s := newServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 11 {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
		okHandler(n, w, r)
	})
	r, err := Start(context.Background(), Options{URL: s.URL, Connections: 1, Requests: 15, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	testenv.WaitFor(t, 10*time.Second, "the 11th request at the server", func() bool { return s.requests.Load() == 11 })
	before := r.Snapshot()
	if before.OK != 10 || before.Dials != 1 || before.Latency.Max == 0 || before.CorrectedLatency.Max == 0 {
		t.Fatalf("before the Reset: %v (dials %d), want 10 ok on 1 connection", &before, before.Dials)
	}
	r.Reset()
	after := r.Snapshot()
	if after.Requests != 0 || after.Dials != 0 || after.Latency != (Percentiles{}) ||
		after.CorrectedLatency != (Percentiles{}) || len(after.ByColor) != 0 {
		t.Fatalf("just after the Reset: %v (dials %d), want nothing counted", &after, after.Dials)
	}
	if after.Elapsed >= before.Elapsed {
		t.Errorf("Elapsed %v after the Reset, %v before: want it counted from the Reset", after.Elapsed, before.Elapsed)
	}
	close(hold)
	<-r.Done()
	res := r.Stop()
	if res.OK != 5 || res.Requests != 5 || res.Dials != 0 || res.ByColor["blue"] != 5 || s.requests.Load() != 15 {
		t.Fatalf("final %v (dials %d), server saw %d; want the 5 requests from the 11th on, no dial",
			res, res.Dials, s.requests.Load())
	}
}

// TestStopIsPromptWhileWaitingForTheSchedule stops a slow Rate run whose
// workers wait for sends scheduled seconds ahead: the waits must end at once.
func TestStopIsPromptWhileWaitingForTheSchedule(t *testing.T) {
	s := newServer(t, okHandler)
	r, err := Start(context.Background(), Options{URL: s.URL, Connections: 4, Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Request 1 is due at once; requests 2 to 4 at 1s, 2s and 3s.
	testenv.WaitFor(t, 10*time.Second, "the first request", func() bool { return r.Snapshot().Requests == 1 })
	t0 := time.Now()
	res := r.Stop()
	if took := time.Since(t0); took > 500*time.Millisecond {
		t.Errorf("Stop took %v with every worker waiting for its scheduled send", took)
	}
	if res.Requests != s.requests.Load() || res.Aborted != 0 || res.Failed != 0 {
		t.Errorf("got %v, server saw %d", res, s.requests.Load())
	}
}

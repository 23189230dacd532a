package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/cluster"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/router"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// testBounds are the latency buckets of the tests' routers, in seconds.
var testBounds = []float64{0.01, 0.1, 1}

// fakeStats is a router's stats that the test sets by hand.
type fakeStats struct {
	mu    sync.Mutex
	stats map[bluegreen.Color]router.ColorStats
	calls int
}

// get returns the stats, as (*router.Router).Stats does.
func (s *fakeStats) get() map[bluegreen.Color]router.ColorStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	out := map[bluegreen.Color]router.ColorStats{}
	for c, st := range s.stats {
		st.Latency.Counts = append([]int64(nil), st.Latency.Counts...)
		out[c] = st
	}
	return out
}

// add counts n requests of color c, errs of them 5xx, fast of them in the
// first bucket and the others in the third.
func (s *fakeStats) add(c bluegreen.Color, n, errs, fast int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stats == nil {
		s.stats = map[bluegreen.Color]router.ColorStats{}
	}
	st := s.stats[c]
	if st.Latency.Bounds == nil {
		st.Latency = router.Histogram{Bounds: testBounds, Counts: make([]int64, len(testBounds)+1)}
	}
	st.Requests += n
	st.Status[4] += errs
	st.Status[1] += n - errs
	// Cumulative buckets: <= 0.01s, <= 0.1s, <= 1s, +Inf.
	st.Latency.Counts = []int64{st.Latency.Counts[0] + fast, st.Latency.Counts[1] + fast, st.Latency.Counts[2] + n, st.Latency.Counts[3] + n}
	st.Latency.Count += n
	st.Latency.Sum += float64(fast)*0.005 + float64(n-fast)*0.5
	s.stats[c] = st
}

// callCount returns how many times get was called.
func (s *fakeStats) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// count returns how many log lines contain s.
func (b *syncBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// meterCluster starts a one-member etcd and joins the instances ids to it,
// each on its own client, closed when the test ends.
func meterCluster(t *testing.T, ids ...string) ([]*etcdtest.Member, []*cluster.Instance) {
	t.Helper()
	members := etcdtest.Start(t, 1)
	var ins []*cluster.Instance
	for _, id := range ids {
		cli, err := clientv3.New(clientv3.Config{Endpoints: etcdtest.Endpoints(members), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		in, err := cluster.Join(t.Context(), cluster.Options{Client: cli, Prefix: "/t", ID: id, Address: "127.0.0.1:0", TTL: 2 * time.Second})
		if err != nil {
			t.Fatalf("Join %s: %v", id, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			in.Close(ctx)
		})
		ins = append(ins, in)
	}
	return members, ins
}

// publish publishes st's figures as instance in's.
func publish(t *testing.T, in *cluster.Instance, st *fakeStats) {
	t.Helper()
	if err := in.PublishFigures(t.Context(), figuresOf(st.get())); err != nil {
		t.Fatal(err)
	}
}

// wantFigures fails the test unless got has the requests, errors and the
// ratio they make, and the p99 (ms) within 0.01.
func wantFigures(t *testing.T, got bluegreen.WatchFigures, req, errs int64, p99 float64) {
	t.Helper()
	ratio := 0.0
	if req > 0 {
		ratio = float64(errs) / float64(req)
	}
	if got.Requests != req || got.Errors != errs || got.ErrorRatio != ratio || math.Abs(got.P99MS-p99) > 0.01 {
		t.Errorf("figures = %+v, want %d requests, %d errors, ratio %v, p99 %.2fms", got, req, errs, ratio, p99)
	}
}

// TestClusterMeterSumsEveryRouter: the meter reports the local traffic
// since Start plus what r2 published since Start, not before; the p99
// comes from the summed histogram; r2 leaving drops it from the sum.
func TestClusterMeterSumsEveryRouter(t *testing.T) {
	_, ins := meterCluster(t, "r1", "r2")
	var local, remote fakeStats
	local.add(bluegreen.Green, 50, 50, 50)    // before Start: not counted
	remote.add(bluegreen.Green, 1000, 500, 0) // published before Start: not counted
	remote.add(bluegreen.Blue, 7, 7, 0)       // another color: not counted
	publish(t, ins[1], &remote)

	m := newClusterMeter(ins[0], local.get, slog.New(slog.DiscardHandler))
	measure := m.Start(bluegreen.Green)
	wantFigures(t, measure(), 0, 0, 0)

	local.add(bluegreen.Green, 100, 5, 100)
	remote.add(bluegreen.Green, 300, 60, 240)
	remote.add(bluegreen.Blue, 7, 7, 0)
	publish(t, ins[1], &remote)
	publish(t, ins[0], &local) // its own published figures: counted from its stats only
	// 400 requests: 340 in the first bucket, 60 in the third: the 396th
	// is the 56th of 60 between 0.1s and 1s. r2 alone would give 955ms,
	// the local router alone 9.9ms.
	wantFigures(t, measure(), 400, 65, 940)

	if err := ins[1].Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantFigures(t, measure(), 100, 5, 9.9)
}

// TestClusterMeterCountsNewAndRestartedRouters: an instance absent at
// Start, or whose counters went down (restarted under the same ID),
// counts whole.
func TestClusterMeterCountsNewAndRestartedRouters(t *testing.T) {
	_, ins := meterCluster(t, "r1", "r2", "r3")
	var local, r2, r3 fakeStats
	r2.add(bluegreen.Blue, 1000, 0, 1000)
	publish(t, ins[1], &r2)
	measure := newClusterMeter(ins[0], local.get, slog.New(slog.DiscardHandler)).Start(bluegreen.Blue)

	r3.add(bluegreen.Blue, 20, 2, 20)
	publish(t, ins[2], &r3)
	var restarted fakeStats
	restarted.add(bluegreen.Blue, 10, 10, 10)
	publish(t, ins[1], &restarted)
	wantFigures(t, measure(), 30, 12, 9.9)
}

// TestClusterMeterKeepsJudgingWithoutEtcd: with etcd gone, the local
// traffic still counts and r2's figures read last are kept; the failure
// is logged once, not at every call.
func TestClusterMeterKeepsJudgingWithoutEtcd(t *testing.T) {
	members, ins := meterCluster(t, "r1", "r2")
	var local, remote fakeStats
	var logs syncBuffer
	m := newClusterMeter(ins[0], local.get, slog.New(slog.NewTextHandler(&logs, nil)))
	m.timeout = 300 * time.Millisecond
	measure := m.Start(bluegreen.Green)
	local.add(bluegreen.Green, 100, 5, 100)
	remote.add(bluegreen.Green, 300, 60, 240)
	publish(t, ins[1], &remote)
	wantFigures(t, measure(), 400, 65, 940)

	members[0].Kill()
	// 500 requests, 440 fast: the 495th is the 55th of the 60 slow ones.
	local.add(bluegreen.Green, 100, 15, 100)
	wantFigures(t, measure(), 500, 80, 925)
	local.add(bluegreen.Green, 100, 0, 100)
	wantFigures(t, measure(), 600, 80, 910)
	if n := logs.count("reading the other routers' figures failed"); n != 1 {
		t.Errorf("the failure was logged %d times over two failed reads, want once:\n%s", n, logs.buf.String())
	}
}

// startPublishing runs publishFigures for in on a goroutine and returns
// what stops it and waits for it to return (also called when the test
// ends; calling it twice is harmless).
func startPublishing(t *testing.T, in *cluster.Instance, stats func() map[bluegreen.Color]router.ColorStats, every time.Duration, logger *slog.Logger) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		publishFigures(ctx, in, stats, every, logger)
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// publishedRequests returns a condition: reader sees id's published
// figures for blue with req requests.
func publishedRequests(t *testing.T, reader *cluster.Instance, id string, req int64) func() bool {
	return func() bool {
		figs, err := reader.InstanceFigures(t.Context())
		return err == nil && figs[id][bluegreen.Blue].Requests == req
	}
}

// TestPublishFigures: the figures are published at once, and again after
// the stats change, until the context ends.
func TestPublishFigures(t *testing.T) {
	_, ins := meterCluster(t, "r1", "r2")
	var local fakeStats
	local.add(bluegreen.Blue, 10, 1, 10)
	// An hour between publishes: only the one at once can be seen.
	stop := startPublishing(t, ins[0], local.get, time.Hour, slog.New(slog.DiscardHandler))
	testenv.WaitFor(t, 5*time.Second, "r1's first figures", publishedRequests(t, ins[1], "r1", 10))
	figs, err := ins[1].InstanceFigures(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := figs["r1"][bluegreen.Blue], figureOf(local.get()[bluegreen.Blue]); !reflect.DeepEqual(got, want) {
		t.Errorf("published %+v, want %+v", got, want)
	}
	stop()

	startPublishing(t, ins[0], local.get, 20*time.Millisecond, slog.New(slog.DiscardHandler))
	local.add(bluegreen.Blue, 5, 0, 5)
	testenv.WaitFor(t, 5*time.Second, "r1's figures after its stats changed", publishedRequests(t, ins[1], "r1", 15))
}

// TestPublishFiguresLogsARunOfFailuresOnce: with etcd down, the failed
// publishes are logged once, and once more when publishing works again.
func TestPublishFiguresLogsARunOfFailuresOnce(t *testing.T) {
	members, ins := meterCluster(t, "r1", "r2")
	var local fakeStats
	var logs syncBuffer
	local.add(bluegreen.Blue, 10, 1, 10)
	startPublishing(t, ins[0], local.get, 50*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	testenv.WaitFor(t, 5*time.Second, "r1's first figures", publishedRequests(t, ins[1], "r1", 10))

	members[0].Kill()
	calls := local.callCount()
	testenv.WaitFor(t, 5*time.Second, "three publishes to fail", func() bool { return local.callCount() >= calls+3 })
	if n := logs.count("publishing this router's figures failed"); n != 1 {
		t.Errorf("the failures were logged %d times, want once:\n%s", n, logs.buf.String())
	}
	members[0].Restart(t)
	local.add(bluegreen.Blue, 5, 0, 5)
	testenv.WaitFor(t, 10*time.Second, "r1's figures after etcd came back", publishedRequests(t, ins[1], "r1", 15))
	testenv.WaitFor(t, 5*time.Second, "the recovery to be logged", func() bool {
		return logs.count("publishing this router's figures works again") == 1
	})
	if n := logs.count("publishing this router's figures failed"); n != 1 {
		t.Errorf("the failures were logged %d times, want once:\n%s", n, logs.buf.String())
	}
}

// TestClusterMeterConcurrentCalls: the watch and Status may call the
// function at once; every call sees the same figures.
func TestClusterMeterConcurrentCalls(t *testing.T) {
	_, ins := meterCluster(t, "r1", "r2")
	var local, remote fakeStats
	measure := newClusterMeter(ins[0], local.get, slog.New(slog.DiscardHandler)).Start(bluegreen.Blue)
	local.add(bluegreen.Blue, 100, 5, 100)
	remote.add(bluegreen.Blue, 300, 60, 240)
	publish(t, ins[1], &remote)
	var wg sync.WaitGroup
	got := make([]bluegreen.WatchFigures, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = measure()
		}()
	}
	wg.Wait()
	for _, f := range got {
		wantFigures(t, f, 400, 65, 940)
	}
}

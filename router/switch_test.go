package router

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestSwitchUnderLoad switches 50 times while keep-alive clients hammer the
// public listener: no request may fail, every response names its color,
// the color header always matches the backend that answered, and after
// the last switch every new request reaches the final color.
func TestSwitchUnderLoad(t *testing.T) {
	tr := twoColors(t, Options{ColorHeader: true})
	const (
		clients  = 8
		switches = 50
	)
	final := bluegreen.Blue // 50 switches from blue end on blue
	var (
		switched atomic.Int64 // switches completed
		total    atomic.Int64
		perCli   [clients]atomic.Int64
		postLast [clients]atomic.Int64 // requests sent after the last switch
		stop     = make(chan struct{})
		errs     = make(chan error, clients)
		wg       sync.WaitGroup
	)
	url := "http://" + tr.pub + "/load"
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t)
			for {
				select {
				case <-stop:
					return
				default:
				}
				before := switched.Load()
				resp, err := c.Get(url)
				if err != nil {
					errs <- fmt.Errorf("client %d: %v", i, err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				color := resp.Header.Get(headerColor)
				switch {
				case err != nil:
					errs <- fmt.Errorf("client %d: reading body: %v", i, err)
					return
				case resp.StatusCode != http.StatusOK:
					errs <- fmt.Errorf("client %d: status %d", i, resp.StatusCode)
					return
				case color == "" || color != string(body):
					errs <- fmt.Errorf("client %d: color header %q, backend %q", i, color, body)
					return
				case before == switches && color != string(final):
					errs <- fmt.Errorf("client %d: request sent after the last switch reached %s", i, color)
					return
				}
				total.Add(1)
				perCli[i].Add(1)
				if before == switches {
					postLast[i].Add(1)
				}
			}
		}()
	}
	failed := func() bool {
		select {
		case err := <-errs:
			t.Error(err)
			return true
		default:
			return false
		}
	}

	ctx := ctxT(t, 60*time.Second)
	var atSwap int64
	to := bluegreen.Blue
	for i := 1; i <= switches; i++ {
		// Let traffic flow between switches.
		mark := total.Load()
		testenv.WaitFor(t, 10*time.Second, "traffic between switches", func() bool {
			return total.Load() >= mark+40 || len(errs) > 0
		})
		if failed() {
			break
		}
		to = to.Other()
		res := tr.Switch(to).Wait(ctx, 5*time.Second)
		if res.From != to.Other() || res.To != to {
			t.Fatalf("switch %d: result %+v, want %s -> %s", i, res, to.Other(), to)
		}
		if res.Cancelled != 0 || res.Finished != res.InFlightAtSwap {
			t.Fatalf("switch %d: drain %+v: want everything finished", i, res)
		}
		atSwap += res.InFlightAtSwap
		switched.Store(int64(i))
	}
	if to != final {
		t.Fatalf("ended on %s, want %s", to, final)
	}
	// Every client must send requests after the last switch.
	testenv.WaitFor(t, 10*time.Second, "requests after the last switch", func() bool {
		for i := range postLast {
			if postLast[i].Load() < 10 && len(errs) == 0 {
				return false
			}
		}
		return true
	})
	// No client connection was closed while the clients kept sending: a
	// switch never closes a kept-alive connection. (The number of
	// connections is not the test: net/http's client may dial a second one
	// when it asks again before the first is back in its idle pool.)
	closedDuringLoad := tr.closed.Load()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if closedDuringLoad != 0 {
		t.Errorf("%d client connections were closed during the switches (%d accepted for %d clients): a switch closed kept-alive connections",
			closedDuringLoad, tr.newConns.Load(), clients)
	}
	if atSwap == 0 {
		t.Error("no switch caught a request in flight: the drain accounting was not exercised")
	}
	testenv.WaitFor(t, 5*time.Second, "counters to settle", func() bool {
		s := tr.Stats()
		return s[bluegreen.Blue].InFlight == 0 && s[bluegreen.Green].InFlight == 0 &&
			s[bluegreen.Blue].Requests+s[bluegreen.Green].Requests == total.Load()
	})
	s := tr.Stats()
	if s[bluegreen.Blue].Status[1]+s[bluegreen.Green].Status[1] != total.Load() {
		t.Errorf("2xx counters %d+%d, want %d", s[bluegreen.Blue].Status[1], s[bluegreen.Green].Status[1], total.Load())
	}
	t.Logf("%d requests over %d switches, %d in flight at the swaps", total.Load(), switches, atSwap)
}

// TestLongRequestFinishesDuringDrain starts a 2 s request on blue, switches
// to green, and checks that the request completes on blue while new
// requests go to green, and that the drain reports it finished.
func TestLongRequestFinishesDuringDrain(t *testing.T) {
	started := make(chan struct{}, 1)
	slowBlue := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			select { // a 2 s request: the workload, not synchronisation
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, "blue")
	})
	tr := startRouter(t, Options{ColorHeader: true}, bluegreen.Blue, map[bluegreen.Color][]string{
		bluegreen.Blue:  {newBackend(t, slowBlue)},
		bluegreen.Green: {newBackend(t, colorHandler("green"))},
	})
	c := newClient(t)
	type answer struct {
		status      int
		color, body string
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := c.Get("http://" + tr.pub + "/slow")
		if err != nil {
			done <- answer{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{resp.StatusCode, resp.Header.Get(headerColor), string(b)}
	}()
	recv(t, started, 10*time.Second, "the slow request to reach blue")

	d := tr.Switch(bluegreen.Green)
	if _, color, body := get(t, newClient(t), "http://"+tr.pub+"/"); color != "green" || body != "green" {
		t.Fatalf("new request after the switch: color %q body %q, want green", color, body)
	}
	if n := d.InFlight(); n != 1 {
		t.Fatalf("old color in flight = %d, want 1", n)
	}
	res := d.Wait(context.Background(), 10*time.Second)
	a := recv(t, done, 10*time.Second, "the slow request")
	if a.status != http.StatusOK || a.color != "blue" || a.body != "blue" {
		t.Fatalf("slow request: %+v, want 200 from blue", a)
	}
	if res.InFlightAtSwap != 1 || res.Finished != 1 || res.Cancelled != 0 {
		t.Fatalf("drain %+v: want 1 in flight, 1 finished", res)
	}
	if res.Duration < time.Second || res.Duration > 10*time.Second {
		t.Fatalf("drain took %v, want about 2 s", res.Duration)
	}
	if r := res.Report(); r.InFlight != 1 || r.Finished != 1 || r.TimeoutMS != 10000 {
		t.Fatalf("report %+v", r)
	}
	if again := d.Wait(context.Background(), 0); again != res {
		t.Fatalf("second Wait = %+v, want the first result %+v", again, res)
	}
}

// TestPreviewFlips checks that the preview listener serves the inactive
// color, follows a switch, and answers the color path with the live color.
func TestPreviewFlips(t *testing.T) {
	tr := twoColors(t, Options{ColorHeader: true})
	c := newClient(t)
	check := func(addr, want string) {
		t.Helper()
		st, color, body := get(t, c, "http://"+addr+"/")
		if st != 200 || color != want || body != want {
			t.Fatalf("%s: status %d color %q body %q, want %s", addr, st, color, body, want)
		}
	}
	check(tr.pub, "blue")
	check(tr.prev, "green")
	if _, _, body := get(t, c, "http://"+tr.prev+DefaultColorPath); body != `{"color":"blue"}` {
		t.Fatalf("preview color path = %s, want the live color", body)
	}
	d := tr.Switch(bluegreen.Green)
	check(tr.pub, "green")
	check(tr.prev, "blue")
	if _, _, body := get(t, c, "http://"+tr.prev+DefaultColorPath); body != `{"color":"green"}` {
		t.Fatalf("preview color path after switch = %s", body)
	}
	if res := d.Wait(context.Background(), time.Second); res.From != bluegreen.Blue || res.To != bluegreen.Green {
		t.Fatalf("drain %+v", res)
	}
	if tr.Live() != bluegreen.Green {
		t.Fatalf("Live() = %s", tr.Live())
	}
	// Switching to the live color changes nothing.
	noop := tr.Switch(bluegreen.Green)
	select {
	case <-noop.Done():
	default:
		t.Fatal("no-op drain is not done")
	}
	if res := noop.Wait(context.Background(), time.Second); res.From != bluegreen.Green || res.To != bluegreen.Green ||
		res.InFlightAtSwap != 0 || !res.SwappedAt.IsZero() {
		t.Fatalf("no-op switch result %+v", res)
	}
	check(tr.pub, "green")
}

// TestSetUpstreams replaces a color's upstreams at run time.
func TestSetUpstreams(t *testing.T) {
	tr := twoColors(t, Options{})
	c := newClient(t)
	other := newBackend(t, colorHandler("blue-2"))
	if err := tr.SetUpstreams(bluegreen.Blue, []string{other}); err != nil {
		t.Fatal(err)
	}
	if _, _, body := get(t, c, "http://"+tr.pub+"/"); body != "blue-2" {
		t.Fatalf("after SetUpstreams got %q", body)
	}
	if got := tr.Upstreams(bluegreen.Blue); len(got) != 1 || got[0] != other {
		t.Fatalf("Upstreams = %v", got)
	}
	for _, bad := range [][]string{{"nohost"}, {":80"}, {"127.0.0.1:0"}, {"127.0.0.1:http"}} {
		if err := tr.SetUpstreams(bluegreen.Blue, bad); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
			t.Errorf("SetUpstreams(%v) = %v, want EINVALID", bad, err)
		}
	}
	if err := tr.SetUpstreams("red", []string{other}); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
		t.Errorf("SetUpstreams(red) = %v, want EINVALID", err)
	}
	if got := tr.Upstreams(bluegreen.Blue); got[0] != other {
		t.Fatalf("a failed SetUpstreams changed the upstreams: %v", got)
	}
	// A color without upstreams answers 502 at once.
	if err := tr.SetUpstreams(bluegreen.Blue, nil); err != nil {
		t.Fatal(err)
	}
	if st, _, body := get(t, c, "http://"+tr.pub+"/"); st != 502 || body != "bluegreen: blue has no upstreams\n" {
		t.Fatalf("no upstreams: %d %q", st, body)
	}
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		live bluegreen.Color
		ups  map[bluegreen.Color][]string
	}{
		{"live", Options{}, "red", nil},
		{"color", Options{}, bluegreen.Blue, map[bluegreen.Color][]string{"red": {"127.0.0.1:1"}}},
		{"addr", Options{}, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {"x"}}},
		{"path", Options{ColorPath: "color"}, bluegreen.Blue, nil},
	}
	for _, tc := range cases {
		if _, err := New(tc.opts, tc.live, tc.ups); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
			t.Errorf("%s: New = %v, want EINVALID", tc.name, err)
		}
	}
}

// TestDrainCutsPendingRequest: a request still waiting for its upstream at
// the drain deadline is cancelled and answered 504; the drain counts it.
func TestDrainCutsPendingRequest(t *testing.T) {
	started := make(chan struct{}, 1)
	upstreamGone := make(chan struct{})
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done() // never answers on its own
		close(upstreamGone)
	})
	tr := startRouter(t, Options{ColorHeader: true}, bluegreen.Blue, map[bluegreen.Color][]string{
		bluegreen.Blue:  {newBackend(t, stuck)},
		bluegreen.Green: {newBackend(t, colorHandler("green"))},
	})
	type answer struct {
		status int
		body   string
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := newClient(t).Get("http://" + tr.pub + "/stuck")
		if err != nil {
			done <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{status: resp.StatusCode, body: string(b)}
	}()
	recv(t, started, 10*time.Second, "the request to reach blue")
	res := tr.Switch(bluegreen.Green).Wait(context.Background(), 100*time.Millisecond)
	if res.InFlightAtSwap != 1 || res.Cancelled != 1 || res.Finished != 0 || res.Duration < 100*time.Millisecond {
		t.Fatalf("drain %+v: want one request cancelled at the deadline", res)
	}
	a := recv(t, done, 10*time.Second, "the cut request's answer")
	if a.err != nil || a.status != http.StatusGatewayTimeout || a.body != "bluegreen: blue request cut at the drain deadline\n" {
		t.Fatalf("cut request got %+v", a)
	}
	recv(t, upstreamGone, 10*time.Second, "the upstream request to be cancelled")
	testenv.WaitFor(t, 5*time.Second, "blue in flight to reach 0", func() bool { return tr.Stats()[bluegreen.Blue].InFlight == 0 })
	if s := tr.Stats()[bluegreen.Blue]; s.Status[4] != 1 || s.UpstreamErrors != 0 {
		t.Fatalf("stats %+v: want one 5xx that is not an upstream error", s)
	}
}

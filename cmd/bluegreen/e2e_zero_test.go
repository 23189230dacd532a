package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/testenv"
	"github.com/bluegreen/bluegreen/loadgen"
)

// TestLongLivedAcrossSwitch: a 2 s request, an SSE stream and a WebSocket
// opened on blue before a switch keep working after it; the drain waits for
// the first two and cuts the WebSocket at its deadline.
func TestLongLivedAcrossSwitch(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	s := startServe(t, writeConfig(t, t.TempDir(), blue, green, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := "http://" + s.public

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow?ms=2000")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- resp.Status + " " + string(b)
	}()

	sseResp, err := http.Get(base + "/sse?n=20")
	if err != nil {
		t.Fatal(err)
	}
	defer sseResp.Body.Close()
	sse := bufio.NewReader(sseResp.Body)
	readEvent := func() string {
		t.Helper()
		for {
			line, err := sse.ReadString('\n')
			if err != nil {
				t.Fatalf("SSE stream ended early: %v", err)
			}
			if strings.HasPrefix(line, "data: ") {
				return strings.TrimSpace(strings.TrimPrefix(line, "data: "))
			}
		}
	}
	if ev := readEvent(); ev != `{"color":"blue","n":1}` {
		t.Fatalf("first SSE event %q", ev)
	}

	ws, _, err := websocket.Dial(ctx, "ws://"+s.public+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	echo := func(msg string) (string, error) {
		if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			return "", err
		}
		_, b, err := ws.Read(ctx)
		return string(b), err
	}
	if got, err := echo("before"); err != nil || got != "blue: before" {
		t.Fatalf("WebSocket before the switch: %q %v", got, err)
	}
	// The slow request must be in flight before the switch.
	testenv.WaitFor(t, 10*time.Second, "the slow request in flight on blue", func() bool {
		st, err := api.NewClient(s.apiAd, s.token, "t").Status(ctx)
		return err == nil && st.Traffic[bluegreen.Blue].InFlight >= 3
	})

	client := api.NewClient(s.apiAd, s.token, "e2e-tester")
	type result struct {
		res bluegreen.SwitchResult
		err error
	}
	switched := make(chan result, 1)
	go func() {
		res, err := client.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green})
		switched <- result{res, err}
	}()
	testenv.WaitFor(t, 10*time.Second, "green to be live", func() bool {
		_, body, _ := get(t, base+"/deployment/color/")
		return body == `{"color":"green"}`
	})
	if _, body, _ := get(t, base+"/"); !strings.Contains(body, `"color":"green"`) {
		t.Fatalf("a new request after the swap went to %q", body)
	}
	if got, err := echo("after"); err != nil || got != "blue: after" {
		t.Fatalf("WebSocket after the switch: %q %v (want it still open on blue)", got, err)
	}
	for n := 2; n <= 20; n++ {
		if ev := readEvent(); !strings.Contains(ev, `"color":"blue"`) {
			t.Fatalf("SSE event %d: %q", n, ev)
		}
	}
	if got := <-slow; !strings.HasPrefix(got, "200 OK") || !strings.Contains(got, `"color":"blue"`) {
		t.Fatalf("the 2 s request started before the switch: %q", got)
	}

	r := <-switched
	if r.err != nil {
		t.Fatal(r.err)
	}
	d := r.res.Drain
	if d.InFlight != 3 || d.Finished != 2 || d.Cancelled != 1 {
		t.Fatalf("drain report %+v: want 3 in flight (slow, SSE, WebSocket), 2 finished, 1 (WebSocket) cut at the deadline", d)
	}
	if _, err := echo("late"); err == nil {
		t.Fatal("the WebSocket still works after the drain deadline; want it cut")
	}
}

// TestZeroDowntime50Switches: 50 switches under load, every request counted,
// none fails.
func TestZeroDowntime50Switches(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	// Three event loops (the default is one per core): the switches
	// must reach connections spread over several loops.
	s := startServe(t, writeConfig(t, t.TempDir(), blue, green, "  event_loops: 3"))
	testenv.WaitFor(t, 10*time.Second, "serve's start line to say event_loops=3", func() bool {
		return strings.Contains(s.stderr.String(), "event_loops=3")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + s.public + "/", Connections: 16})
	if err != nil {
		t.Fatal(err)
	}
	client := api.NewClient(s.apiAd, s.token, "e2e-tester")
	to := bluegreen.Green
	for i := 0; i < 50; i++ {
		before := load.Snapshot().Requests
		res, err := client.Switch(ctx, bluegreen.SwitchRequest{To: to})
		if err != nil {
			t.Fatalf("switch %d: %v", i+1, err)
		}
		if !res.Changed || res.Drain.Cancelled != 0 {
			t.Fatalf("switch %d: %+v", i+1, res)
		}
		// Let traffic flow on the new color before the next switch.
		testenv.WaitFor(t, 10*time.Second, "traffic after a switch", func() bool { return load.Snapshot().Requests > before+50 })
		to = to.Other()
	}
	r := load.Stop()
	if r.Failed != 0 {
		t.Fatalf("%d of %d requests failed across 50 switches: %v %v", r.Failed, r.Requests, r.Failures, r.FirstErrors)
	}
	if r.Requests < 2500 || r.ByColor["blue"] == 0 || r.ByColor["green"] == 0 || r.ByColor[""] != 0 {
		t.Fatalf("load result %+v: want traffic on both colors, every response with a color header", r)
	}
	t.Logf("50 switches: %d requests, 0 failed, by color %v, p99 %s", r.Requests, r.ByColor, r.Latency.P99)
}

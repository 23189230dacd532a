// Command switchbench measures switches under load against a running
// `bluegreen serve`: it keeps -c kept-alive connections busy on the public
// listener with the project's loadgen, switches the live color -n times
// through the API, and before every -slow-every'th switch starts a slow
// request (/slow?ms=N on the backend) so that a long request is in flight on
// the old color when the router swaps.
//
// With -rate the load is a fixed request rate over the same connections
// (an open loop, as bench/latency), well below saturation, so switch_ms
// shows what a switch costs beside live traffic rather than how long the
// API waits for a core on a saturated machine; without it the connections
// send as fast as they can.
//
// Before the load it makes -idle switches, each after -idle-gap without
// one: what a switch costs on a quiet machine, where it usually comes
// after a while without traffic moving (on this VM code and data go cold
// within milliseconds of idleness).
//
// It reports total and failed requests (the goal is 0 failed), requests per
// color, the API's switch_ms (from the API receiving the request to the
// router swap) and the drain figures, and exits 1 when any request or switch
// failed.
//
// The backend behind both colors must answer /slow?ms=N by sending its
// response headers at once and ending the body N ms later, as bench/backend
// does: switchbench switches only once the headers have come back, so the
// slow request is known to be in flight. serve must add the color header
// (router.color_header, the default) for the per-color counts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/loadgen"

	"github.com/bluegreen/bluegreen/bench/internal/benchkit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "switchbench:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	public, apiAddr, token, tokenFile string
	switches, conns, slowEvery, idle  int
	slowMS, rate                      int
	gap, idleGap, warmup, healthWait  time.Duration
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("switchbench", flag.ContinueOnError)
	fs.StringVar(&o.public, "public", "", "public listener host:port (required)")
	fs.StringVar(&o.apiAddr, "api", "", "API host:port (required)")
	fs.StringVar(&o.token, "token", "", "API token (or -token-file)")
	fs.StringVar(&o.tokenFile, "token-file", "", "file holding the API token (STATE_DIR/api-token)")
	fs.IntVar(&o.switches, "n", 100, "number of switches")
	fs.IntVar(&o.conns, "c", 64, "load connections")
	fs.IntVar(&o.rate, "rate", 0, "fixed load rate in req/s over the connections (0: as fast as they go)")
	fs.IntVar(&o.idle, "idle", 10, "switches without load first, for reference (not counted in -n)")
	fs.IntVar(&o.slowEvery, "slow-every", 10, "start a slow request before every Nth switch (0: never)")
	fs.IntVar(&o.slowMS, "slow-ms", 1500, "duration of the slow request in ms")
	fs.DurationVar(&o.gap, "gap", 50*time.Millisecond, "pause between the end of one switch and the next")
	fs.DurationVar(&o.idleGap, "idle-gap", time.Second, "pause before each switch without load (a switch usually comes after a quiet while)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load before the first switch")
	fs.DurationVar(&o.healthWait, "health-wait", 30*time.Second, "how long to wait for both colors to be healthy")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.public == "" || o.apiAddr == "" {
		return o, errors.New("-public and -api are required")
	}
	if o.token == "" && o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return o, fmt.Errorf("reading the token: %w", err)
		}
		o.token = strings.TrimSpace(string(b))
	}
	if o.token == "" {
		return o, errors.New("-token or -token-file is required")
	}
	if o.switches < 1 || o.conns < 1 || o.slowEvery < 0 || o.slowMS < 0 || o.idle < 0 || o.rate < 0 || o.gap < 0 || o.idleGap < 0 {
		return o, errors.New("-n and -c must be positive, -idle, -slow-every, -slow-ms, -rate, -gap and -idle-gap not negative")
	}
	return o, nil
}

// switchRecord is one switch as the benchmark saw it.
type switchRecord struct {
	res  bluegreen.SwitchResult
	rtt  time.Duration // client-side round trip of the API call
	slow *slowResult   // the slow request started before it, if any
	err  error
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	client := api.NewClient(o.apiAddr, o.token, "switchbench")
	if err := waitHealthy(ctx, client, o.healthWait); err != nil {
		return err
	}
	live, err := client.Color(ctx)
	if err != nil {
		return fmt.Errorf("reading the live color: %w", err)
	}

	// Switches without load: what a switch costs when the machine is idle.
	var idle []switchRecord
	for i := range o.idle {
		if err := benchkit.Pause(ctx, o.idleGap); err != nil {
			return err
		}
		rec := doSwitch(ctx, client, &live, fmt.Sprintf("switchbench idle %d/%d", i+1, o.idle))
		if rec.err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		idle = append(idle, rec)
	}
	if err := benchkit.Pause(ctx, o.gap); err != nil {
		return err
	}

	load, err := loadgen.Start(ctx, loadgen.Options{URL: "http://" + o.public + "/", Connections: o.conns, Rate: o.rate})
	if err != nil {
		return fmt.Errorf("starting the load: %w", err)
	}
	defer load.Stop()
	if err := benchkit.Pause(ctx, o.warmup); err != nil {
		return err
	}

	slowURL := fmt.Sprintf("http://%s/slow?ms=%d", o.public, o.slowMS)
	var slows []*slowResult
	recs := make([]switchRecord, 0, o.switches)
	for i := range o.switches {
		var rec switchRecord
		if slowBefore(i, o.slowEvery) {
			// Its response headers are back, so it is in flight on the live
			// color; the report checks it was answered by the old color and
			// ended after the swap.
			rec.slow, err = startSlow(ctx, slowURL, time.Duration(o.slowMS)*time.Millisecond+30*time.Second)
			if err != nil {
				return err
			}
			slows = append(slows, rec.slow)
		}
		slow := rec.slow
		rec = doSwitch(ctx, client, &live, fmt.Sprintf("switchbench %d/%d", i+1, o.switches))
		rec.slow = slow
		if rec.err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		recs = append(recs, rec)
		if err := benchkit.Pause(ctx, o.gap); err != nil {
			return err
		}
	}
	for _, s := range slows {
		<-s.done
	}
	res := load.Stop()
	r := report{opts: o, load: res, switches: recs, idle: idle}
	r.print(stdout)
	if !r.ok() {
		return errors.New("some requests or switches failed (see above)")
	}
	return nil
}

// slowBefore reports whether switch i (from 0) gets a slow request: one in
// every `every`, alternately an even and an odd one, so that the slow
// requests (and the long drains) fall on both directions, blue to green and
// green to blue, and neither color gets all the time they take.
func slowBefore(i, every int) bool {
	switch {
	case every <= 0:
		return false
	case every == 1:
		return true
	}
	return i%every == (i/every)%2
}

// doSwitch switches from *live to the other color and updates *live to the
// color that is live afterwards.
func doSwitch(ctx context.Context, client *api.Client, live *bluegreen.Color, reason string) switchRecord {
	var rec switchRecord
	start := time.Now()
	rec.res, rec.err = client.Switch(ctx, bluegreen.SwitchRequest{To: live.Other(), Reason: reason})
	rec.rtt = time.Since(start)
	if rec.err == nil {
		*live = rec.res.To
	} else if c, err := client.Color(ctx); err == nil {
		*live = c
	}
	return rec
}

// waitHealthy waits until the server reports both colors healthy: a switch
// to an unhealthy color is refused.
func waitHealthy(ctx context.Context, c *api.Client, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		h, herr := c.Health(ctx)
		if herr == nil && h[bluegreen.Blue].Status == bluegreen.HealthHealthy && h[bluegreen.Green].Status == bluegreen.HealthHealthy {
			return nil
		}
		if err := benchkit.Pause(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for both colors to be healthy (last answer: %v, error: %v): %w", h, herr, err)
		}
	}
}

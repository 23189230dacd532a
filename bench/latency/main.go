// Command latency measures the latency of one URL under an open-loop load at a
// fixed rate: the project's loadgen sends -rate requests per second in total
// on -c kept-alive connections for -d, each request at its scheduled time,
// whatever happened to the ones before. Run against a backend directly and
// through proxies at the same rate (well below every target's saturation), the
// differences between the figures are the latency each proxy adds at equal
// load, which a closed-loop run at saturation (wrk -c64) cannot show: there
// latency follows throughput (Little's law).
//
// Latencies are measured from each request's scheduled send time to the end
// of its response body (loadgen's Result.CorrectedLatency): a request that
// could not be sent on time, because every connection was busy with slower
// responses, is charged for its wait, as wrk2 does (no coordinated omission).
// The figures from the actual send (loadgen's Result.Latency) are printed too.
// Percentiles are histogram bucket bounds, at most 6.25% above the true value;
// max is exact.
//
// A -warmup at the same rate comes first and is not counted (the dials of the
// -c connections and the target's first requests would otherwise make the
// tail). The achieved rate is requests finished per second of the measured
// period; below 95% of -rate, the load generator or the target could not keep
// up and the figures do not describe the asked rate: the output says so.
//
// With -hist FILE it also writes the histogram of the latencies from the
// schedule to FILE, and "latency -pool FILE..." pools such files: it prints
// the percentiles of all their requests together. bench/run.sh judges its
// latency target on the pooled runs of each target: one run's p99 is set by
// the few stalls of the shared machine that fell into its 10 s.
//
// The exit status is 1 when a request failed (any error or a status other
// than 2xx), 2 for bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bluegreen/bluegreen/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errFailed):
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(2)
	}
}

// errFailed reports a run in which some requests failed (already printed).
var errFailed = errors.New("some requests failed")

// keepUp is the fraction of the asked rate below which a run is flagged.
const keepUp = 0.95

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	url := fs.String("url", "", "URL to GET, e.g. http://127.0.0.1:8080/ (required)")
	rate := fs.Int("rate", 5000, "requests per second, in total over all connections")
	conns := fs.Int("c", 64, "connections (the most requests in flight at once)")
	dur := fs.Duration("d", 10*time.Second, "measured duration")
	warmup := fs.Duration("warmup", 2*time.Second, "load at the same rate before measuring, not counted; 0 for none")
	timeout := fs.Duration("timeout", 10*time.Second, "per-request timeout")
	label := fs.String("label", "", "target name printed in the output (default: the URL)")
	format := fs.String("format", "text", "output: text (readable) or kv (one line of key=value, for scripts)")
	histOut := fs.String("hist", "", "also write the histogram of the latencies from the schedule to this file")
	pool := fs.Bool("pool", false, "pool the histogram files named after the flags instead of measuring")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *format != "text" && *format != "kv" {
		return fmt.Errorf("-format %q: want text or kv", *format)
	}
	if *pool {
		return poolFiles(fs.Args(), *format, stdout)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (histogram files go with -pool)", fs.Arg(0))
	}
	if *url == "" || *rate < 1 || *conns < 1 || *dur <= 0 || *warmup < 0 {
		return errors.New("-url is required; -rate, -c and -d must be positive, -warmup not negative")
	}
	if *label == "" {
		*label = *url
	}

	r, err := loadgen.Start(ctx, loadgen.Options{
		URL: *url, Connections: *conns, Rate: *rate, Duration: *warmup + *dur, Timeout: *timeout,
	})
	if err != nil {
		return err
	}
	defer r.Stop()
	if *warmup > 0 {
		t := time.NewTimer(*warmup)
		select {
		case <-t.C:
		case <-r.Done(): // ctx canceled
		}
		t.Stop()
		r.Reset()
	}
	<-r.Done()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	res := r.Stop()

	achieved := res.RPS()
	keptUp := achieved >= keepUp*float64(*rate)
	c, l := res.CorrectedLatency, res.Latency
	switch *format {
	case "kv":
		fmt.Fprintf(stdout, "target=%s rate=%d achieved=%.0f kept_up=%t requests=%d failed=%d "+
			"p50_ms=%s p90_ms=%s p99_ms=%s p999_ms=%s max_ms=%s "+
			"sent_p50_ms=%s sent_p99_ms=%s sent_max_ms=%s\n",
			*label, *rate, achieved, keptUp, res.Requests, res.Failed,
			ms(c.P50), ms(c.P90), ms(c.P99), ms(c.P999), ms(c.Max), ms(l.P50), ms(l.P99), ms(l.Max))
	default:
		fmt.Fprintf(stdout, "%s: %d req/s asked, %.0f req/s achieved over %v, %d connections\n",
			*label, *rate, achieved, res.Elapsed.Round(time.Millisecond), *conns)
		if !keptUp {
			fmt.Fprintf(stdout, "  NOT KEPT UP: achieved below %.0f%% of the asked rate; the figures do not describe it\n", keepUp*100)
		}
		fmt.Fprintf(stdout, "  requests %d, failed %d\n", res.Requests, res.Failed)
		fmt.Fprintf(stdout, "  latency from the scheduled send: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s ms\n",
			ms(c.P50), ms(c.P90), ms(c.P99), ms(c.P999), ms(c.Max))
		fmt.Fprintf(stdout, "  latency from the actual send:    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s ms\n",
			ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
	}
	if *histOut != "" {
		text, _ := res.CorrectedHistogram.MarshalText()
		if err := os.WriteFile(*histOut, text, 0o644); err != nil {
			return err
		}
	}
	if res.Failed > 0 {
		fmt.Fprintf(os.Stderr, "latency: %s: %d of %d requests failed: %v %q\n",
			*label, res.Failed, res.Requests, res.Failures, res.FirstErrors)
		return errFailed
	}
	return nil
}

// poolFiles prints the percentiles of the requests of every histogram file
// in names together.
func poolFiles(names []string, format string, stdout io.Writer) error {
	if len(names) == 0 {
		return errors.New("-pool: name the histogram files (written by -hist)")
	}
	var all loadgen.Histogram
	for _, name := range names {
		text, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		var h loadgen.Histogram
		if err := h.UnmarshalText(text); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		all.Add(&h)
	}
	p := all.Percentiles()
	switch format {
	case "kv":
		fmt.Fprintf(stdout, "runs=%d requests=%d p50_ms=%s p90_ms=%s p99_ms=%s p999_ms=%s max_ms=%s\n",
			len(names), all.Count(), ms(p.P50), ms(p.P90), ms(p.P99), ms(p.P999), ms(p.Max))
	default:
		fmt.Fprintf(stdout, "%d runs pooled, %d requests\n", len(names), all.Count())
		fmt.Fprintf(stdout, "  latency from the scheduled send: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s ms\n",
			ms(p.P50), ms(p.P90), ms(p.P99), ms(p.P999), ms(p.Max))
	}
	return nil
}

// ms formats d in milliseconds with three decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
}

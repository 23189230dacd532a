package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bigHeads is the -head-bytes mode: n connections at once each send a
// request head of size bytes (one long header line, then the blank line),
// as fast as the server takes it. A server with a head limit answers 431
// (or another 4xx) and closes, or resets the connection, before the head
// has all gone; one without takes the whole head and forwards it. The
// summed VmRSS of pids is sampled every 20 ms during the run for its peak,
// and read again after the run and once more after wait. It prints one
// Markdown table row.
func bigHeads(ctx context.Context, stdout io.Writer, addr, label string, pids []int, n, size int, wait time.Duration) error {
	before, err := rss(pids)
	if err != nil {
		return err
	}
	var peak atomic.Int64
	peak.Store(before)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, err := rss(pids); err == nil && kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	}()

	line := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nX-Big: "
	pad := strings.Repeat("a", 64<<10)
	var refused, answered4xx, accepted, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch oneBigHead(ctx, addr, line, pad, size) {
			case headRefused:
				refused.Add(1)
			case head4xx:
				answered4xx.Add(1)
			case headAccepted:
				accepted.Add(1)
			default:
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	after, err := rss(pids)
	if err != nil {
		return err
	}
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	stopSampling()
	<-sampled
	later, err := rss(pids)
	if err != nil {
		return err
	}
	mib := func(kb int64) float64 { return float64(kb) / 1024 }
	fmt.Fprintf(stdout, "| %s | %d | %d answered 4xx, %d cut before the head had gone | %d | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %s |\n",
		label, n, answered4xx.Load(), refused.Load(), accepted.Load()+failed.Load(), mib(before), mib(peak.Load()), mib(after), mib(later), took.Round(time.Millisecond))
	if accepted.Load() > 0 {
		return fmt.Errorf("%d of %d heads of %d bytes were accepted", accepted.Load(), n, size)
	}
	return nil
}

type headOutcome int

const (
	headFailed   headOutcome = iota // dial failed or no verdict within the deadline
	headRefused                     // the connection was closed or reset before the head had gone
	head4xx                         // answered with a 4xx
	headAccepted                    // answered with anything else
)

// oneBigHead sends one head of size bytes on a new connection and reports
// what the server did with it.
func oneBigHead(ctx context.Context, addr, line, pad string, size int) headOutcome {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return headFailed
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	answer := make(chan headOutcome, 1)
	go func() {
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		switch {
		case err != nil:
			answer <- headRefused
		case res.StatusCode >= 400 && res.StatusCode < 500:
			answer <- head4xx
		default:
			answer <- headAccepted
		}
	}()
	w := bufio.NewWriterSize(c, 64<<10)
	left := size - len(line) - 4
	_, err = w.WriteString(line)
	for err == nil && left > 0 {
		k := min(left, len(pad))
		_, err = w.WriteString(pad[:k])
		left -= k
	}
	if err == nil {
		_, err = w.WriteString("\r\n\r\n")
	}
	if err == nil {
		err = w.Flush()
	}
	return <-answer
}

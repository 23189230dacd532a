// Command memory measures what idle kept-alive client connections cost a
// proxy: it reads the resident set size (VmRSS in /proc/PID/status) of the
// given processes, opens -n connections to -addr, sends one request on each
// and keeps every connection open and idle, reads VmRSS again, then proves
// the connections were still open by sending a second request on each.
//
// -pid takes one PID or a comma-separated list whose RSS is summed (nginx:
// the master and its workers). The server's idle timeout must be longer than
// the run (a few seconds), or it closes the connections being measured and
// the second-request check fails. Linux only.
//
// With -head-bytes it measures instead what big request heads cost (see
// bigHeads): -n connections each send one head of that size at once.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "memory:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	addr := fs.String("addr", "", "host:port of the listener to connect to (required)")
	pidList := fs.String("pid", "", "PID, or comma-separated PIDs, whose VmRSS is summed (required)")
	label := fs.String("label", "", "name printed in the result line (default: the address)")
	n := fs.Int("n", 1000, "connections to open")
	path := fs.String("path", "/", "path to request")
	settle := fs.Duration("settle", time.Second, "wait after the last connection opened before reading VmRSS")
	headBytes := fs.Int("head-bytes", 0, "instead: each connection sends a request head of this many bytes, all at once (see bigHeads)")
	after := fs.Duration("after", 30*time.Second, "with -head-bytes: how long after the run to read VmRSS again")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || *pidList == "" || *n < 1 {
		return errors.New("-addr and -pid are required and -n must be positive")
	}
	if *label == "" {
		*label = *addr
	}
	var pids []int
	for _, f := range strings.Split(*pidList, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("-pid %q: %w", *pidList, err)
		}
		pids = append(pids, p)
	}
	if *headBytes > 0 {
		return bigHeads(ctx, stdout, *addr, *label, pids, *n, *headBytes, *after)
	}
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: " + *addr + "\r\nUser-Agent: bluegreen-bench-memory\r\n\r\n")

	before, err := rss(pids)
	if err != nil {
		return err
	}
	conns, err := openAll(ctx, *addr, *n, req)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil {
		return err
	}
	t := time.NewTimer(*settle)
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	with, err := rss(pids)
	if err != nil {
		return err
	}
	open := 0
	for _, c := range conns {
		if c.exchange(req) == nil {
			open++
		}
	}
	mib := func(kb int64) float64 { return float64(kb) / 1024 }
	fmt.Fprintf(stdout, "| %s | %.1f MiB | %.1f MiB | %+.1f MiB (%.1f KiB per connection) | %d/%d |\n",
		*label, mib(before), mib(with), mib(with-before), float64(with-before)/float64(*n), open, *n)
	if open != *n {
		return fmt.Errorf("%d of %d connections were closed during the measurement (idle timeout too short?)", *n-open, *n)
	}
	return nil
}

// conn is one kept-alive client connection.
type conn struct {
	net.Conn
	br *bufio.Reader
}

// exchange writes req and reads one whole response, which must be a 200
// that keeps the connection open.
func (c *conn) exchange(req []byte) error {
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write(req); err != nil {
		return err
	}
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	switch {
	case err != nil:
		return err
	case res.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d", res.StatusCode)
	case res.Close:
		return errors.New("the server closed the connection after the response")
	}
	return nil
}

// openAll opens n connections, 32 at a time, and makes one exchange on each.
// It returns the connections it opened even when it fails.
func openAll(ctx context.Context, addr string, n int, req []byte) ([]*conn, error) {
	conns := make([]*conn, n)
	errs := make([]error, n)
	var d net.Dialer
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			nc, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				errs[i] = err
				return
			}
			c := &conn{Conn: nc, br: bufio.NewReaderSize(nc, 4096)}
			conns[i] = c
			errs[i] = c.exchange(req)
		}()
	}
	wg.Wait()
	var opened []*conn
	for _, c := range conns {
		if c != nil {
			opened = append(opened, c)
		}
	}
	for i, err := range errs {
		if err != nil {
			return opened, fmt.Errorf("connection %d of %d: %w", i+1, n, err)
		}
	}
	return opened, nil
}

// rss returns the summed VmRSS of pids, in KiB.
func rss(pids []int) (int64, error) {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return 0, fmt.Errorf("reading the RSS: %w", err)
		}
		found := false
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("parsing VmRSS of %d: %q: %w", pid, line, err)
				}
				total += kb
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
		}
	}
	return total, nil
}

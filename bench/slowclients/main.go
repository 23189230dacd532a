// Command slowclients keeps slow clients on a server for a while: -uploaders
// clients each sending a request body of -upload-bytes at -upload-rate
// bytes a second, and -readers clients each asking for -read-path and
// reading the answer at -read-rate bytes a second. A client whose request
// ends starts another, until -duration. It is the load behind
// bench/slowclients.sh, which measures meanwhile how fast clients fare: an
// app with a few synchronous workers behind a proxy that does not buffer
// gives its workers to the slow clients.
//
// At the end it prints one line: requests finished and failed by kind.
// The pacing sleeps are the clients' speed, bounded by -duration.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "slowclients:", err)
		os.Exit(1)
	}
}

// counts are what the slow clients did.
type counts struct {
	uploads, uploadErrs, reads, readErrs atomic.Int64
	firstUploadErr, firstReadErr         atomic.Value // string: the first failure of each kind
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("slowclients", flag.ContinueOnError)
	addr := fs.String("addr", "", "host:port of the server (required)")
	uploaders := fs.Int("uploaders", 200, "slow uploaders")
	readers := fs.Int("readers", 200, "slow readers")
	uploadBytes := fs.Int("upload-bytes", 1<<20, "body size of each upload")
	uploadRate := fs.Int("upload-rate", 4096, "bytes a second each uploader sends")
	uploadPath := fs.String("upload-path", "/upload", "path uploads go to")
	readPath := fs.String("read-path", "/big", "path readers ask for")
	readRate := fs.Int("read-rate", 65536, "bytes a second each reader reads")
	duration := fs.Duration("duration", 15*time.Second, "how long the slow clients keep at it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || *uploadRate < 10 || *readRate < 10 {
		return fmt.Errorf("-addr is required; rates must be at least 10 bytes a second")
	}
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var c counts
	var wg sync.WaitGroup
	for range *uploaders {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := upload(ctx, *addr, *uploadPath, *uploadBytes, *uploadRate); err == nil {
					c.uploads.Add(1)
				} else if ctx.Err() == nil {
					c.uploadErrs.Add(1)
					c.firstUploadErr.CompareAndSwap(nil, err.Error())
					sleep(ctx, 100*time.Millisecond)
				}
			}
		})
	}
	for range *readers {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := read(ctx, *addr, *readPath, *readRate); err == nil {
					c.reads.Add(1)
				} else if ctx.Err() == nil {
					c.readErrs.Add(1)
					c.firstReadErr.CompareAndSwap(nil, err.Error())
					sleep(ctx, 100*time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	fmt.Fprintf(stdout, "slow clients on %s for %v: uploads %d finished, %d failed; reads %d finished, %d failed",
		*addr, *duration, c.uploads.Load(), c.uploadErrs.Load(), c.reads.Load(), c.readErrs.Load())
	if e, ok := c.firstUploadErr.Load().(string); ok {
		fmt.Fprintf(stdout, "; first upload failure: %s", e)
	}
	if e, ok := c.firstReadErr.Load().(string); ok {
		fmt.Fprintf(stdout, "; first read failure: %s", e)
	}
	fmt.Fprintln(stdout)
	return nil
}

// tick is the pacing step: a tenth of each second's bytes at a time.
const tick = 100 * time.Millisecond

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// dial opens a connection that ctx's end closes.
func dial(ctx context.Context, addr string) (net.Conn, func(), error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return c, func() { stop(); c.Close() }, nil
}

// upload sends one body of n bytes at rate bytes a second and reads the
// answer.
func upload(ctx context.Context, addr, path string, n, rate int) error {
	c, done, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer done()
	if _, err := fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", path, addr, n); err != nil {
		return err
	}
	piece := []byte(strings.Repeat("u", max(rate/10, 1)))
	for left := n; left > 0; left -= len(piece) {
		if len(piece) > left {
			piece = piece[:left]
		}
		if _, err := c.Write(piece); err != nil {
			return err
		}
		sleep(ctx, tick)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	_, err = io.Copy(io.Discard, c)
	return err
}

// read asks for path and reads the answer at rate bytes a second.
func read(ctx context.Context, addr, path string, rate int) error {
	c, done, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer done()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr); err != nil {
		return err
	}
	br := bufio.NewReaderSize(c, 4096)
	want, err := answerHead(br)
	if err != nil {
		return err
	}
	buf := make([]byte, max(rate/10, 1))
	for got := int64(0); ; {
		n, err := io.ReadFull(br, buf)
		got += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if got != want {
				return fmt.Errorf("answer cut after %d of %d body bytes", got, want)
			}
			return nil
		}
		if err != nil {
			return err
		}
		sleep(ctx, tick)
		if ctx.Err() != nil {
			// Without this, the reads between the end and the close run
			// unpaced through what the kernel holds and count as finished.
			return ctx.Err()
		}
	}
}

// answerHead reads an answer's head from br and returns its Content-Length;
// an answer other than 200 or without a length is an error, so a proxy's
// own error page never counts as a finished read.
func answerHead(br *bufio.Reader) (int64, error) {
	status, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200 ") && !strings.HasPrefix(status, "HTTP/1.0 200 ") {
		return 0, fmt.Errorf("answer %q", strings.TrimSpace(status))
	}
	length := int64(-1)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ":")
		if strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			if _, err := fmt.Sscan(strings.TrimSpace(value), &length); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", value)
			}
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("answer without a Content-Length")
	}
	return length, nil
}

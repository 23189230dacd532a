package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server is an httptest server that counts requests and new connections.
type server struct {
	*httptest.Server
	requests atomic.Int64 // requests that reached the handler
	conns    atomic.Int64 // connections accepted
}

// newServer starts a loopback HTTP server whose handler gets the 1-based
// number of each request.
func newServer(t *testing.T, h func(n int64, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	return startServer(t, h, false)
}

// startServer is newServer, with TLS when useTLS is set.
func startServer(t *testing.T, h func(n int64, w http.ResponseWriter, r *http.Request), useTLS bool) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(s.requests.Add(1), w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// okHandler answers 200 "hello" as color blue.
func okHandler(_ int64, w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Bluegreen-Color", "blue")
	w.Write([]byte("hello"))
}

// rawServer accepts TCP connections on loopback and hands each to handle in
// its own goroutine. Connections are closed when handle returns and when the
// test ends.
func rawServer(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				handle(c, bufio.NewReader(c))
			})
		}
	})
	return "http://" + ln.Addr().String() + "/"
}

// readRequestHead reads one request head (up to the empty line).
func readRequestHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}

// run runs o to completion and fails the test on an options error.
func run(t *testing.T, o Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Requests != res.OK+res.Failed {
		t.Errorf("Requests %d != OK %d + Failed %d", res.Requests, res.OK, res.Failed)
	}
	var sum int64
	for _, n := range res.Failures {
		sum += n
	}
	if sum != res.Failed {
		t.Errorf("Failures %v sum to %d, Failed is %d", res.Failures, sum, res.Failed)
	}
	return res
}

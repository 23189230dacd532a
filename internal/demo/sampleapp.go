package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// SampleApp is the sample app's handler, the `sample-app` verb's: the demo
// and the tests run it as one color's release. It serves / (JSON with app
// "sample", its color, version and pid), /healthz, /slow?ms=N (answers
// after N ms), /sse?n=N (N server-sent events, one per 100 ms) and /ws (a
// WebSocket echo that prefixes each message with the color). With
// failEvery > 0 every failEvery-th request to / fails with 500 while
// /healthz stays fine: a bad release that a health check alone lets
// through. Safe for concurrent use.
func SampleApp(color, version string, failEvery int) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	body := fmt.Sprintf(`{"app":"sample","color":%q,"version":%q,"pid":%d}`+"\n", color, version, os.Getpid())
	var n atomic.Int64
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if failEvery > 0 && n.Add(1)%int64(failEvery) == 0 {
			http.Error(w, "internal error (sample-app --fail-every)", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"color":%q,"slept_ms":%d}`+"\n", color, ms)
	})
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n <= 0 {
			n = 10
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		rc := http.NewResponseController(w)
		for i := 1; i <= n; i++ {
			if _, err := fmt.Fprintf(w, "id: %d\ndata: {\"color\":%q,\"n\":%d}\n\n", i, color, i); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			if i == n {
				return
			}
			select {
			case <-time.After(100 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, append([]byte(color+": "), msg...)); err != nil {
				return
			}
		}
	})
	return mux
}

// ServeSampleApp serves SampleApp(color, version, failEvery) on listen
// (host:port) until ctx ends, then shuts it down (5 s for requests in
// flight) and returns nil; it says where it listens on out first.
func ServeSampleApp(ctx context.Context, listen, color, version string, failEvery int, out io.Writer) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sample-app (%s, version %s) listening on http://%s\n", color, version, ln.Addr())
	srv := &http.Server{Handler: SampleApp(color, version, failEvery), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

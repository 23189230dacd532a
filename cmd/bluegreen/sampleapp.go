package main

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
	"github.com/spf13/cobra"
)

// newSampleAppCmd is a tiny app to put behind bluegreen: the demo, the tests
// and people trying bluegreen out use it as one color's release.
func newSampleAppCmd(g *globals) *cobra.Command {
	var (
		color, listen, version string
		failEvery              int
	)
	cmd := &cobra.Command{
		Use:   "sample-app",
		Short: "Run a tiny HTTP app to put behind bluegreen (for trying it out)",
		Long: "sample-app serves: / (JSON with its color and version), /healthz, /slow?ms=N (answers after N ms),\n" +
			"/sse?n=N (N server-sent events, one per 100ms), /ws (WebSocket echo). $PORT is used when --listen is empty.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if listen == "" {
				port := os.Getenv("PORT")
				if port == "" {
					return usageErrorf("sample-app needs --listen or $PORT")
				}
				listen = "127.0.0.1:" + port
			}
			if color == "" {
				color = os.Getenv("BLUEGREEN_COLOR")
			}
			if color == "" {
				return usageErrorf("sample-app needs --color or $BLUEGREEN_COLOR (blue, green, or any label to tell upstreams apart)")
			}
			if _, _, err := net.SplitHostPort(listen); err != nil {
				return usageErrorf("sample-app --listen %q: want host:port (%v)", listen, err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "sample-app (%s, version %s) listening on http://%s\n", color, version, ln.Addr())
			srv := &http.Server{Handler: sampleApp(color, version, failEvery), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&color, "color", "", "the color it reports, or any label (default $BLUEGREEN_COLOR)")
	cmd.Flags().StringVar(&listen, "listen", "", "host:port to listen on (default 127.0.0.1:$PORT)")
	cmd.Flags().StringVar(&version, "version", "1.0", "the version it reports")
	cmd.Flags().IntVar(&failEvery, "fail-every", 0, "answer every Nth request to / with 500 (a bad release whose health check passes); 0 never")
	return cmd
}

// sampleApp is the demo and test app. With failEvery > 0 every failEvery-th
// request to its home page fails with 500 while /healthz stays fine: a bad
// release that a health check alone lets through.
func sampleApp(color, version string, failEvery int) http.Handler {
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

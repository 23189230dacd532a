// Command backend is the benchmark's upstream: the smallest useful HTTP app,
// so that the figures measure the proxy in front of it rather than the app.
//
// It serves:
//
//	/          a 47-byte JSON body naming its color (any method)
//	/healthz   "ok"
//	/slow?ms=N sends the headers and the start of the body at once and the rest
//	           after N milliseconds (a request in flight at a switch)
//
// It prints "listening on http://ADDR" on stdout once it accepts connections
// (with -listen 127.0.0.1:0 that line tells the caller the port) and stops on
// SIGINT or SIGTERM.
package main

import (
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
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "host:port to listen on")
	color := fs.String("color", "blue", "the color named in the response body")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	srv := &http.Server{Handler: handler(*color), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

func handler(color string) http.Handler {
	body := []byte(fmt.Sprintf(`{"app":"bench","color":%q,"version":"1.0"}`+"\n", color))
	ctype := []string{"application/json"}
	ok := []byte("ok\n")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = ctype
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(ok) })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			http.Error(w, "want ?ms=N", http.StatusBadRequest)
			return
		}
		// The headers and the start of the body go out at once, so the
		// client knows the request has reached the backend and is in
		// flight; the rest comes after the wait.
		w.Header()["Content-Type"] = ctype
		_, _ = fmt.Fprintf(w, `{"color":%q,`, color)
		if http.NewResponseController(w).Flush() != nil {
			return
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		_, _ = fmt.Fprintf(w, `"slept_ms":%d}`+"\n", ms)
	})
	return mux
}

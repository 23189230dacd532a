package router

import (
	"io"
	"net/http"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// The benchmarks compare a request through the router with the same
// request sent straight to the backend, over keep-alive connections from
// parallel clients. Run without -race:
//
//	go test -run '^$' -bench . -benchmem ./router/
//
// allocs/op counts the client and backend too (all run in this process);
// the difference between the two benchmarks is the router's share.

var helloBody = []byte("hello")

func helloBackend(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = []string{"text/plain"}
	w.Write(helloBody)
}

func benchGet(b *testing.B, url string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func BenchmarkDirect(b *testing.B) {
	addr := newBackendB(b)
	benchGet(b, "http://"+addr+"/")
}

// BenchmarkRouter measures the default engine on the goroutine path,
// BenchmarkRouterLoop the same on the event loop (where available), and
// BenchmarkRouterReverseProxy the ReverseProxy engine.
func BenchmarkRouter(b *testing.B) { benchRouter(b, Options{ColorHeader: true}) }

func BenchmarkRouterLoop(b *testing.B) {
	if !loopAvailable {
		b.Skip("no event loop on this platform")
	}
	benchRouter(b, Options{ColorHeader: true, EventLoop: true})
}

func BenchmarkRouterReverseProxy(b *testing.B) {
	benchRouter(b, Options{ColorHeader: true, ReverseProxyOnly: true})
}

func benchRouter(b *testing.B, opts Options) {
	addr := newBackendB(b)
	rt, err := New(opts, bluegreen.Blue, map[bluegreen.Color][]string{bluegreen.Blue: {addr}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rt.Close)
	pub := serveB(b, rt.NewServer(rt.Public()))
	benchGet(b, "http://"+pub+"/")
}

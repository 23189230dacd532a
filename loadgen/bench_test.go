package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
)

// cannedServer answers every request with the same small response, cheaply,
// so that benchmarks measure the client.
func cannedServer(b *testing.B) string {
	resp := []byte("HTTP/1.1 200 OK\r\nX-Bluegreen-Color: blue\r\nContent-Length: 5\r\n\r\nhello")
	return rawServer(b, func(c net.Conn, br *bufio.Reader) {
		for readRequestHead(br) == nil {
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	})
}

// BenchmarkLoadgen measures the client's cost per request (ns/op includes
// the canned server on the same machine; allocs/op is the client's).
func BenchmarkLoadgen(b *testing.B) {
	url := cannedServer(b)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(context.Background(), Options{URL: url, Connections: 4, Requests: int64(b.N)})
	if err != nil || res.OK != int64(b.N) {
		b.Fatalf("%v %v", res, err)
	}
}

// BenchmarkNetHTTPClient is the same load through net/http's client, for
// comparison with BenchmarkLoadgen.
func BenchmarkNetHTTPClient(b *testing.B) {
	url := cannedServer(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

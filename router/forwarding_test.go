package router

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// forwardingPaths are the ways a request reaches the upstream: the event
// loop's raw head (or the goroutine path's direct engine, as TestMain
// runs), the direct engine after net/http read a big head, and
// httputil.ReverseProxy.
var forwardingPaths = []struct {
	name string
	opts Options
	pad  string
}{
	{"own reader", Options{}, ""},
	{"big head", Options{}, bigHeader},
	{"reverse proxy", Options{ReverseProxyOnly: true, NetHTTPServer: true}, ""},
}

// seenThrough sends head (its request line and headers, without the blank
// line) through tr and returns what the echo backend saw.
func seenThrough(t *testing.T, tr *testRouter, head, pad string) (int, seen) {
	t.Helper()
	res, body, _ := sendRaw(t, tr.pub, head+pad+"\r\n")
	if res.StatusCode != 200 {
		return res.StatusCode, seen{}
	}
	return res.StatusCode, decodeSeen(t, strings.NewReader(body))
}

// TestUnderscoreHeadersDropped: "X_Forwarded_For" reached the app, where
// WSGI servers read it as X-Forwarded-For (HTTP_X_FORWARDED_FOR): a client
// could pass off its own address. Names with an underscore are dropped by
// default on every path (nginx's underscores_in_headers off), and kept
// with UnderscoresInHeaders.
func TestUnderscoreHeadersDropped(t *testing.T) {
	for _, p := range forwardingPaths {
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s keep=%v", p.name, keep), func(t *testing.T) {
				opts := p.opts
				opts.UnderscoresInHeaders = keep
				tr := echoRouter(t, opts, nil)
				_, s := seenThrough(t, tr, "GET /u HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: 6.6.6.6\r\nX-Plain: yes\r\n", p.pad)
				_, got := s.Header["X_forwarded_for"]
				if !got {
					_, got = s.Header["X_Forwarded_For"]
				}
				delete(s.Header, "X-Pad")
				if got != keep {
					t.Fatalf("the app saw the underscore header: %v, want %v (headers %v)", got, keep, s.Header)
				}
				if s.Header.Get("X-Plain") != "yes" {
					t.Fatalf("X-Plain lost: %v", s.Header)
				}
			})
		}
	}
}

// TestXRealIPReplaced: X-Real-IP passed as the client sent it; it is now
// replaced with the client's address, as X-Forwarded-For is, and kept only
// with TrustForwarded.
func TestXRealIPReplaced(t *testing.T) {
	for _, p := range forwardingPaths {
		for _, trust := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s trust=%v", p.name, trust), func(t *testing.T) {
				opts := p.opts
				opts.TrustForwarded = trust
				tr := echoRouter(t, opts, nil)
				_, s := seenThrough(t, tr, "GET /r HTTP/1.1\r\nHost: x\r\nX-Real-IP: 6.6.6.6\r\n", p.pad)
				want := "127.0.0.1"
				if trust {
					want = "6.6.6.6"
				}
				if got := s.Header["X-Real-Ip"]; len(got) != 1 || got[0] != want {
					t.Fatalf("X-Real-IP %q, want [%s]", got, want)
				}
			})
		}
	}
}

// TestH2CUpgradeNotForwarded: "Upgrade: h2c" reached the app, and its 101
// made an opaque tunnel (no X-Forwarded-For replaced inside). The router
// drops it (and HTTP2-Settings) and serves the request as HTTP/1.1.
func TestH2CUpgradeNotForwarded(t *testing.T) {
	for _, p := range forwardingPaths {
		t.Run(p.name, func(t *testing.T) {
			tr := echoRouter(t, p.opts, nil)
			code, s := seenThrough(t, tr, "GET /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
				"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n", p.pad)
			if code != 200 {
				t.Fatalf("answered %d, want 200", code)
			}
			for _, k := range []string{"Upgrade", "Http2-Settings", "Connection"} {
				if v, ok := s.Header[k]; ok {
					t.Errorf("the app saw %s: %q", k, v)
				}
			}
		})
	}
	// A WebSocket upgrade still goes through.
	if !onlyH2C([]string{"h2c"}) || onlyH2C([]string{"websocket"}) || onlyH2C([]string{"h2c, websocket"}) {
		t.Fatal("onlyH2C")
	}
	h := http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"h2c"}}
	stripH2C(h)
	if fmt.Sprint(h) != "map[Connection:[keep-alive]]" {
		t.Fatalf("stripH2C left %v", h)
	}
}

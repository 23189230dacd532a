package router

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// lfSmuggle is a request head ending in a bare LF ("\n\n", which net/http
// takes) and, in the same read, the outside review's ambiguous request
// (HTTP/1.0, Content-Length: 4 and Transfer-Encoding: chunked), whose
// 4-byte body starts a third head.
const lfSmuggle = "GET /a HTTP/1.1\nHost: x\n\n" +
	"POST /b HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
	"XXXXGET /c HTTP/1.1\r\nHost: x\r\n\r\n"

// TestFollowerBareLFHead: the follower cuts a head at its first blank
// line, CRLF or bare LF, whatever else the read holds: /b gets its 400.
func TestFollowerBareLFHead(t *testing.T) {
	f := newHeadFollower(headLimits{}.withDefaults())
	f.feed([]byte(lfSmuggle))
	want := []followed{{}, {verdictFraming, true}}
	if !reflect.DeepEqual(f.verdicts, want) {
		t.Fatalf("verdicts %v, want %v", f.verdicts, want)
	}
}

// TestNoSmugglingAfterABareLFHead: on every path, the ambiguous
// request after a bare-LF head gets its 400 and the app does not see it.
func TestNoSmugglingAfterABareLFHead(t *testing.T) {
	for _, std := range []bool{false, true} {
		app := &pathRecorder{}
		tr := startRouter(t, Options{NetHTTPServer: std, ReverseProxyOnly: std}, bluegreen.Blue,
			map[bluegreen.Color][]string{bluegreen.Blue: {newBackend(t, app)}})
		got := answers(t, tr.pub, lfSmuggle, 3)
		if fmt.Sprint(got) != "[200 400]" {
			t.Errorf("net/http %v: answers %v, want [200 400]", std, got)
		}
		if seen := fmt.Sprint(app.seen()); seen != "[/a]" {
			t.Errorf("net/http %v: the app served %s, want [/a]", std, seen)
		}
	}
}

package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// TestAnonymousClientCannotRollBack: 25 anonymous CONNECT requests right
// after a switch (the router answers them 501 itself) used to count as the
// new color's 5xx and make the watch roll back ("5xx ratio 100.0% (25 of 25
// requests)"). Only the app's answers count: the watch passes and green
// stays live.
func TestAnonymousClientCannotRollBack(t *testing.T) {
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	s := startServe(t, writeConfig(t, t.TempDir(), blue, green,
		"watch: {window: 3s, interval: 100ms, min_requests: 20, max_error_ratio: 0.05}"))

	s.mustCLI(t, "switch", "green")
	for range 25 {
		c, err := net.DialTimeout("tcp", s.public, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if res.StatusCode != http.StatusNotImplemented {
			t.Fatalf("CONNECT answered %d, want 501", res.StatusCode)
		}
	}
	for range 25 {
		if code, _, _ := get(t, "http://"+s.public+"/"); code != 200 {
			t.Fatalf("GET / answered %d", code)
		}
	}
	var end bluegreen.Event
	waitFor(t, "the watch of green to end", 20*time.Second, func() bool {
		for _, ev := range history(t, s) {
			if ev.Action == bluegreen.ActionWatch && ev.Color == bluegreen.Green {
				if _, done := ev.Details["figures"]; done {
					end = ev
					return true
				}
			}
		}
		return false
	})
	if end.Outcome != bluegreen.OutcomeOK {
		t.Fatalf("the watch ended %s: %s", end.Outcome, end.Message)
	}
	if col := strings.TrimSpace(s.mustCLI(t, "color")); col != "green" {
		t.Fatalf("live color %s after the watch, want green", col)
	}
	st := decodeJSON[bluegreen.Status](t, s.mustCLI(t, "status", "-o", "json"))
	if tr := st.Traffic[bluegreen.Green]; tr.ClientErrors != 25 || tr.Status5xx != 0 {
		t.Fatalf("green's traffic %+v: want 25 client errors and no 5xx", tr)
	}
}

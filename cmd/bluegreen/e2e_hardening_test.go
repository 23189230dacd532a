package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
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
	testenv.WaitFor(t, 20*time.Second, "the watch of green to end", func() bool {
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

// TestFloodKeepsAPIAndClients: twice serve's file descriptor limit in
// idle sockets on the public listener. 20,000 used to take every
// descriptor: new clients were reset and the API stopped accepting
// ("accept4: too many open files"). The public listener now stops at its
// cap (derived from the limit) and the flood waits in the listen backlog:
// `bluegreen status` answers and a kept-alive client is still served.
func TestFloodKeepsAPIAndClients(t *testing.T) {
	const nofile = 512
	blue, _ := startApp(t, "blue")
	green, _ := startApp(t, "green")
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "limited-serve")
	script := fmt.Sprintf("#!/bin/sh\nulimit -n %d || exit 1\nexec %q \"$@\"\n", nofile, binPath)
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	s := startServeBin(t, wrapper, writeConfig(t, dir, blue, green, ""))

	kept, err := net.DialTimeout("tcp", s.public, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	keptR := bufio.NewReader(kept)
	ask := func() int {
		t.Helper()
		kept.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(kept, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(keptR, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if code := ask(); code != 200 {
		t.Fatalf("kept-alive client before the flood: %d", code)
	}

	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 2 * nofile {
		c, err := net.DialTimeout("tcp", s.public, 2*time.Second)
		if err != nil {
			continue // the backlog is full: the kernel drops the handshake
		}
		flood = append(flood, c)
	}
	if len(flood) < nofile {
		t.Fatalf("only %d of %d flood sockets connected", len(flood), 2*nofile)
	}
	testenv.WaitFor(t, 10*time.Second, "serve to reach its connection cap or run out of descriptors", func() bool {
		e := s.stderr.String()
		return strings.Contains(e, "connection limit reached") || strings.Contains(e, "too many open files")
	})
	if strings.Contains(s.stderr.String(), "too many open files") {
		t.Fatalf("serve ran out of descriptors:\n%.2000s", s.stderr.String())
	}
	if code := ask(); code != 200 {
		t.Fatalf("kept-alive client during the flood: %d", code)
	}
	out := s.mustCLI(t, "status")
	if !strings.Contains(out, "live: blue") {
		t.Fatalf("status during the flood: %s", out)
	}
}

package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// TestSwitchStreamsToClientsThatAsk (finding 14b): a client that accepts
// NDJSON gets the switch's progress, then the result; one that does not
// (an older CLI) gets the one JSON answer as before; a refusal is a plain
// error either way; a new client works with a server that does not stream.
func TestSwitchStreamsToClientsThatAsk(t *testing.T) {
	svc := &service{}
	srv, c := newServer(t, svc)
	post := func(accept string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/switch", strings.NewReader(`{"color":"green"}`))
		req.Header.Set("Authorization", "Bearer s3cret")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := post("")
	if resp.Header.Get("Content-Type") != "application/json" || strings.Count(strings.TrimSpace(body), "\n{") != 0 ||
		!strings.Contains(body, `"changed": true`) || strings.Contains(body, "progress") {
		t.Fatalf("without Accept: %s %q, want the one JSON result", resp.Header.Get("Content-Type"), body)
	}
	resp, body = post(NDJSON)
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if resp.Header.Get("Content-Type") != NDJSON || len(lines) != 3 || !strings.HasPrefix(lines[0], `{"progress":{"stage":"live"`) ||
		!strings.HasPrefix(lines[1], `{"progress":{"stage":"draining"`) || !strings.HasPrefix(lines[2], `{"result":`) {
		t.Fatalf("with Accept %s: %s\n%s", NDJSON, resp.Header.Get("Content-Type"), body)
	}

	var seen []bluegreen.SwitchProgress
	res, err := c.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green,
		Progress: func(p bluegreen.SwitchProgress) { seen = append(seen, p) }})
	if err != nil || !res.Changed || len(seen) != 2 || seen[0].Stage != bluegreen.SwitchLive || seen[1].InFlight != 1 {
		t.Fatalf("client with progress: %+v %v, progress %+v", res, err, seen)
	}
	svc.switchErr = bluegreen.Errorf(bluegreen.EREFUSED, "green is unhealthy")
	resp, body = post(NDJSON)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `"code": "refused"`) {
		t.Fatalf("a refusal with Accept %s: %s %s", NDJSON, resp.Status, body)
	}
	if _, err := c.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green, Progress: func(bluegreen.SwitchProgress) {}}); bluegreen.ErrorCode(err) != bluegreen.EREFUSED {
		t.Fatalf("client with progress, refused: %v", err)
	}

	// A server from before streaming.
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(APIHeader, "1")
		writeJSON(w, http.StatusOK, bluegreen.SwitchResult{From: bluegreen.Blue, To: bluegreen.Green, Changed: true, Revision: 9})
	}))
	t.Cleanup(old.Close)
	res, err = NewClient(old.URL, "s3cret", "x").Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green,
		Progress: func(bluegreen.SwitchProgress) { t.Error("progress from a server that does not stream") }})
	if err != nil || res.Revision != 9 {
		t.Fatalf("a new client and an old server: %+v %v", res, err)
	}
}

// TestLostAnswerIsTold (finding 14a): a switch whose connection ends after
// the request was sent fails with ErrNoAnswer (it may have been carried
// out); one the server never took (connection refused) does not.
func TestLostAnswerIsTold(t *testing.T) {
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(cut.Close)
	for _, progress := range []func(bluegreen.SwitchProgress){nil, func(bluegreen.SwitchProgress) {}} {
		_, err := NewClient(cut.URL, "s3cret", "x").Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green, Progress: progress})
		if !errors.Is(err, ErrNoAnswer) || bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE {
			t.Fatalf("a cut answer (progress %v): %v, want ErrNoAnswer", progress != nil, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = NewClient(addr, "s3cret", "x").Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green})
	if errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("a refused connection: %v, want 'cannot reach' without ErrNoAnswer", err)
	}
}

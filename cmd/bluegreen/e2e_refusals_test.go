package main

import (
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
)

// TestRefusalsCannotFloodTheHistory (issue 23, finding 9): 1,000 refused
// switches by a viewer token with a long actor full of control and format
// characters add one event, with the actor cleaned and cut; the count of
// the 999 others is recorded once, here when serve stops, and they are
// logged once. 200 calls with a
// wrong token get 429 with Retry-After once over the limit, and log two lines.
func TestRefusalsCannotFloodTheHistory(t *testing.T) {
	s := startPlainServe(t, "")
	viewer := strings.TrimSpace(s.mustCLI(t, "token", "create", "--name", "dashboard", "--role", "viewer"))
	actor := "mallory\t\u202e\u0085" + strings.Repeat("x", 200)
	post := func(token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.apiAd+"/v1/switch", strings.NewReader(`{"color":"green"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set(api.ActorHeader, actor)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				if resp := post(viewer); resp.StatusCode != http.StatusForbidden {
					t.Errorf("a viewer's switch: %s, want 403", resp.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	evs := decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--action", "access", "-o", "json", "--limit", "2000"))
	if len(evs) != 1 {
		t.Fatalf("1,000 identical refusals added %d events, want 1:\n%s", len(evs), describeEvents(evs[:min(len(evs), 5)]))
	}
	if n := strings.Count(s.stderr.String(), "API call refused for its role"); n != 1 {
		t.Errorf("1,000 identical refusals made %d log lines, want 1", n)
	}
	got := evs[0].Actor
	if strings.ContainsAny(got, "\t\u202e\u0085") || !utf8.ValidString(got) || len(got) > api.MaxActorBytes+len(api.ActorTruncated) ||
		!strings.HasPrefix(got, "mallory") || !strings.HasSuffix(got, api.ActorTruncated) {
		t.Errorf("recorded actor %q: want it without control or format characters, cut to %d bytes and marked", got, api.MaxActorBytes)
	}

	// Wrong tokens: 401 up to the limit, then 429 with Retry-After; the log
	// says so twice, not 200 times.
	codes := map[int]int{}
	retryAfter := ""
	for i := 0; i < 200; i++ {
		resp := post("wrong")
		codes[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests {
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	if codes[http.StatusUnauthorized] != api.DefaultAuthLimit.Burst || codes[http.StatusTooManyRequests] < 150 || retryAfter == "" {
		t.Errorf("200 calls with a wrong token: statuses %v, Retry-After %q; want %d 401s, then 429s with Retry-After",
			codes, retryAfter, api.DefaultAuthLimit.Burst)
	}
	if n := strings.Count(s.stderr.String(), "failed API authentications") + strings.Count(s.stderr.String(), "unauthorized API call"); n != 2 {
		t.Errorf("the failed authentications made %d log lines, want 2:\n%s", n, s.stderr.String())
	}

	// The count is recorded when serve stops (or when the window ends).
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-s.done
	s = startServe(t, s.config)
	evs = decodeJSON[[]bluegreen.Event](t, s.mustCLI(t, "history", "--action", "access", "-o", "json"))
	if len(evs) != 2 || evs[0].Details["repeated"] != float64(999) || !strings.Contains(evs[0].Message, "refused 999 more times") {
		t.Fatalf("after serve stopped, want the refusal and its count (999 more):\n%s", describeEvents(evs))
	}
}

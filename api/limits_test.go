package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bluegreen/bluegreen"
)

// lockedLog is a log destination safe for the server's goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// clientFrom is an HTTP client whose connections come from the loopback
// address local (127.0.0.2 is loopback on Linux too).
func clientFrom(t *testing.T, local string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestFailedAuthenticationsAreRateLimited (issue 23, finding 9): an address
// gets Burst 401s, then 429 with Retry-After, before its token is looked
// at; another address is not affected; the log has two lines for it.
func TestFailedAuthenticationsAreRateLimited(t *testing.T) {
	var logs lockedLog
	var now time.Time = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var nowMu sync.Mutex
	clock := func() time.Time { nowMu.Lock(); defer nowMu.Unlock(); return now }
	srv := httptest.NewServer(NewHandler(&service{}, Options{Token: "s3cret", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Now: clock, AuthLimit: AuthLimit{Burst: 3, Every: 10 * time.Second}}))
	t.Cleanup(srv.Close)
	call := func(hc *http.Client, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	one := clientFrom(t, "127.0.0.1")
	for i := 0; i < 3; i++ {
		if resp := call(one, "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %s, want 401", i+1, resp.Status)
		}
	}
	for _, tok := range []string{"wrong", "s3cret"} {
		resp := call(one, tok)
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || ra < 1 || ra > 10 {
			t.Fatalf("over the limit, token %q: %s, Retry-After %q; want 429 and 1 to 10 s", tok, resp.Status, resp.Header.Get("Retry-After"))
		}
	}
	if _, err := NewClient(srv.URL, "wrong", "x").Status(context.Background()); bluegreen.ErrorCode(err) != bluegreen.ELIMITED ||
		!strings.Contains(err.Error(), "too many failed authentications from 127.0.0.1") {
		t.Fatalf("the client's error over the limit: %v (code %s)", err, bluegreen.ErrorCode(err))
	}
	if resp := call(clientFrom(t, "127.0.0.2"), "s3cret"); resp.StatusCode != http.StatusOK {
		t.Fatalf("another address with the right token: %s, want 200", resp.Status)
	}
	// One failure back after Every.
	nowMu.Lock()
	now = now.Add(10 * time.Second)
	nowMu.Unlock()
	if resp := call(one, "s3cret"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the wait, the right token: %s, want 200", resp.Status)
	}
	if a, b := logs.count("unauthorized API call"), logs.count("failed API authentications"); a != 1 || b != 1 {
		t.Errorf("log lines: %d 'unauthorized', %d 'failed ... 429'; want one each:\n%s", a, b, logs.buf.String())
	}
}

// TestAuthLimiterIsBounded: beyond MaxAddresses, idle addresses are
// forgotten and busy ones kept; new ones then share one bucket.
func TestAuthLimiterIsBounded(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	l := newAuthLimiter(AuthLimit{Burst: 2, Every: time.Minute, MaxAddresses: 4}, func() time.Time { return now })
	for i := 0; i < 100; i++ {
		l.fail("10.0.0." + strconv.Itoa(i) + ":1")
		l.fail("10.0.0." + strconv.Itoa(i) + ":1")
	}
	if len(l.buckets) > 5 {
		t.Fatalf("%d buckets, want at most 4 and the shared one", len(l.buckets))
	}
	if l.wait("10.0.0.99:1") == 0 || l.wait("10.0.0.0:1") == 0 {
		t.Fatal("an address that used its bucket may try again at once")
	}
	if clientKey("[2001:db8::1]:5") != clientKey("[2001:db8::2]:6") || clientKey("[::ffff:10.0.0.1]:1") != "10.0.0.1" {
		t.Fatal("IPv6 addresses are not counted by /64, or a mapped IPv4 not as IPv4")
	}
}

// TestActorIsCleaned (issue 23, finding 9): the recorded actor has no
// control or format characters and is cut, with a marker.
func TestActorIsCleaned(t *testing.T) {
	for in, want := range map[string]string{
		"alice@laptop":                         "alice@laptop",
		"  bob \t":                             "bob",
		"eve\u202e\u200btxt.exe\u0085\x1b[31m": "evetxt.exe[31m",
		"bad\xffutf8":                          "badutf8",
		strings.Repeat("é", 100):               strings.Repeat("é", 64) + ActorTruncated,
		"":                                     "",
	} {
		if got := CleanActor(in); got != want {
			t.Errorf("CleanActor(%q) = %q, want %q", in, got, want)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/switch", nil)
	r.Header.Set(ActorHeader, "\u202e\t")
	if got := actorOf(r); got != "api@"+r.RemoteAddr {
		t.Errorf("an actor of nothing but format characters: %q, want the remote address", got)
	}
}

// FuzzCleanActor: whatever a caller sends, the actor is valid UTF-8 with no
// control or format character, within its bound, and cleaning it again
// changes nothing.
func FuzzCleanActor(f *testing.F) {
	for _, s := range []string{"alice@laptop", "github:bob run 42", "eve\u202e\t\x1b[0m", "\xff\xfe", strings.Repeat("ü", 80)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := CleanActor(in)
		if !utf8.ValidString(out) || len(out) > MaxActorBytes+len(ActorTruncated) {
			t.Fatalf("CleanActor(%q) = %q: invalid or too long", in, out)
		}
		body := strings.TrimSuffix(out, ActorTruncated)
		for _, r := range body {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
				t.Fatalf("CleanActor(%q) = %q keeps %U", in, out, r)
			}
		}
		if again := CleanActor(body); again != body {
			t.Fatalf("cleaning %q again gives %q", body, again)
		}
	})
}

// TestLongReasonsAndPathsAreBounded: a reason beyond MaxReasonBytes is
// refused, naming it, before anything runs; a refusal records at most
// maxRecordedPath bytes of the path.
func TestLongReasonsAndPathsAreBounded(t *testing.T) {
	svc := &service{}
	srv, _ := newServer(t, svc)
	long := strings.Repeat("r", MaxReasonBytes+1)
	for path, body := range map[string]string{
		"/v1/switch":   `{"color":"green","reason":"` + long + `"}`,
		"/v1/rollback": `{"reason":"` + long + `"}`,
		"/v1/deploy":   `{"color":"green","ref":"v2","reason":"` + long + `"}`,
		"/v1/verify":   `{"color":"green","reason":"` + long + `"}`,
		"/v1/approve":  `{"color":"green","reason":"` + long + `"}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "reason: 1001 bytes long, at most 1000") {
			t.Errorf("%s with a long reason: %s %s", path, resp.Status, b)
		}
	}
	if svc.lastSwitch.To != "" {
		t.Errorf("a switch ran with a long reason: %+v", svc.lastSwitch)
	}
	r := httptest.NewRequest(http.MethodDelete, "/v1/tokens/"+strings.Repeat("n", 5000), nil)
	if got := recordedPath(r); len(got) != maxRecordedPath+len(ActorTruncated) || !strings.HasSuffix(got, ActorTruncated) {
		t.Errorf("recorded path of %d bytes, want %d and marked", len(got), maxRecordedPath)
	}
}

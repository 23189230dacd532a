package check

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// server starts a real HTTP server on 127.0.0.1 that is closed when the test
// ends, and returns its base URL.
func server(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func httpSpec(h HTTPCheck) Spec {
	return Spec{Name: "web", Timeout: 5 * time.Second, HTTP: &h}
}

// runHTTP runs the check h once against a server answering with handler.
func runHTTP(t *testing.T, h HTTPCheck, handler http.HandlerFunc) bluegreen.CheckResult {
	t.Helper()
	return Run(context.Background(), httpSpec(h), Subject{Color: bluegreen.Green, URL: server(t, handler)})
}

func wantOK(t *testing.T, r bluegreen.CheckResult) {
	t.Helper()
	if !r.OK || r.Error != "" || r.Output != nil || r.Attempts != 1 {
		t.Fatalf("got %+v, want OK after 1 attempt with no error and no output", r)
	}
}

func wantFail(t *testing.T, r bluegreen.CheckResult, wantErr string) {
	t.Helper()
	if r.OK || r.Error != wantErr {
		t.Fatalf("got OK=%v error %q, want a failure %q (result %+v)", r.OK, r.Error, wantErr, r)
	}
}

func TestHTTPStatus(t *testing.T) {
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
	}
	r := runHTTP(t, HTTPCheck{Path: "/"}, status(200))
	wantOK(t, r)
	if r.Name != "web" || r.Kind != "http" || r.DurationMS <= 0 {
		t.Fatalf("name %q kind %q duration %v, want web, http, > 0", r.Name, r.Kind, r.DurationMS)
	}
	wantFail(t, runHTTP(t, HTTPCheck{Path: "/"}, status(500)), "GET /: status 500, want 200")
	wantOK(t, runHTTP(t, HTTPCheck{Path: "/", Status: 503}, status(503)))
	wantFail(t, runHTTP(t, HTTPCheck{Path: "/x?y=1", Status: 204}, status(200)), "GET /x?y=1: status 200, want 204")
}

func TestHTTPRequestReachesTheServer(t *testing.T) {
	// The server answers 200 only when the request is exactly as configured
	// and says what differs otherwise.
	h := func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var bad []string
		if r.Method != http.MethodPost {
			bad = append(bad, "method "+r.Method)
		}
		if r.URL.RequestURI() != "/api/echo?v=2" {
			bad = append(bad, "uri "+r.URL.RequestURI())
		}
		if r.Host != "app.example.com" {
			bad = append(bad, "host "+r.Host)
		}
		if got := r.Header.Values("X-Token"); !slices.Equal(got, []string{"a", "b"}) {
			bad = append(bad, fmt.Sprintf("X-Token %q", got))
		}
		if r.Header.Get("Content-Type") != "application/json" {
			bad = append(bad, "content-type "+r.Header.Get("Content-Type"))
		}
		if r.UserAgent() != "bluegreen-verify" {
			bad = append(bad, "user-agent "+r.UserAgent())
		}
		if string(body) != `{"q":1}` {
			bad = append(bad, "body "+string(body))
		}
		if len(bad) > 0 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, strings.Join(bad, "\n"))
		}
	}
	r := runHTTP(t, HTTPCheck{
		Method: "POST", Path: "/api/echo?v=2", Body: `{"q":1}`,
		Headers: []Header{{"Host", "app.example.com"}, {"X-Token", "a"}, {"Content-Type", "application/json"}, {"x-token", "b"}},
	}, h)
	if !r.OK {
		t.Fatalf("the server saw a different request: %s; output %q", r.Error, r.Output)
	}
	// A configured User-Agent replaces the default one.
	r = runHTTP(t, HTTPCheck{Path: "/", Headers: []Header{{"User-Agent", "probe/2"}}},
		func(w http.ResponseWriter, r *http.Request) {
			if ua := r.Header.Values("User-Agent"); !slices.Equal(ua, []string{"probe/2"}) {
				http.Error(w, fmt.Sprintf("user-agent %q", ua), http.StatusBadRequest)
			}
		})
	wantOK(t, r)
}

func TestHTTPBodyContains(t *testing.T) {
	h := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "status: ok\n") }
	wantOK(t, runHTTP(t, HTTPCheck{Path: "/api", BodyContains: "ok"}, h))
	r := runHTTP(t, HTTPCheck{Path: "/api", BodyContains: "ready"}, h)
	wantFail(t, r, `GET /api: body does not contain "ready"`)
	if !slices.Equal(r.Output, []string{"status: ok"}) {
		t.Fatalf("output %q, want the body's line", r.Output)
	}
}

func TestHTTPFailureOutputIsTheBodyStart(t *testing.T) {
	long := strings.Repeat("é", 150) // 300 bytes; a cut at 200 falls on a character boundary
	h := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "error\r\n%s\n", long)
		for i := 3; i <= 15; i++ {
			fmt.Fprintf(w, "line %d\n", i)
		}
	}
	r := runHTTP(t, HTTPCheck{Path: "/"}, h)
	wantFail(t, r, "GET /: status 500, want 200")
	want := []string{"error", long[:200], "line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 9", "line 10"}
	if !slices.Equal(r.Output, want) {
		t.Fatalf("output %q, want %q", r.Output, want)
	}
}

func TestHTTPReadsAtMostOneMiB(t *testing.T) {
	h := func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", MaxBody)))
		w.Write([]byte("needle"))
	}
	wantFail(t, runHTTP(t, HTTPCheck{Path: "/big", BodyContains: "needle"}, h),
		fmt.Sprintf(`GET /big: body does not contain "needle" in its first %d bytes`, MaxBody))
	wantOK(t, runHTTP(t, HTTPCheck{Path: "/big", BodyContains: "xxx"}, h))
}

func TestHTTPDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Int32
	h := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}
	wantFail(t, runHTTP(t, HTTPCheck{Path: "/"}, h), "GET /: status 302, want 200")
	wantOK(t, runHTTP(t, HTTPCheck{Path: "/", Status: 302}, h))
	if n := followed.Load(); n != 0 {
		t.Fatalf("the redirect was followed %d times", n)
	}
}

func TestHTTPJSONField(t *testing.T) {
	const doc = `{"data": {"version": "1.3", "count": 3, "ratio": 1.50, "ready": true, "none": null,
		"quote": "a\"b", "obj": {"b": 1, "a": [1, 2]}},
		"items": [{"id": "x"}, {"id": 7}]}`
	url := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/text" {
			fmt.Fprint(w, "hello")
			return
		}
		fmt.Fprint(w, doc)
	})
	tests := []struct {
		path, field, equals string
		wantErr             string // "" for OK
	}{
		{"/version", "data.version", "1.3", ""},
		{"/version", "data.version", "1.2", `GET /version: field "data.version" is "1.3", want "1.2"`},
		{"/version", "data.count", "3", ""},
		{"/version", "data.count", "4", `GET /version: field "data.count" is "3", want "4"`},
		{"/version", "data.ratio", "1.50", ""}, // compared as spelled in the body
		{"/version", "data.ready", "true", ""},
		{"/version", "data.ready", "false", `GET /version: field "data.ready" is "true", want "false"`},
		{"/version", "data.none", "null", ""},
		{"/version", "data.quote", `a"b`, ""},
		{"/version", "data.obj", `{"b":1,"a":[1,2]}`, ""},
		{"/version", "data.obj.a.1", "2", ""},
		{"/version", "items.0.id", "x", ""},
		{"/version", "items.1.id", "7", ""},
		{"/version", "items.2.id", "x", `GET /version: field "items.2.id" not found`},
		{"/version", "items.-1.id", "x", `GET /version: field "items.-1.id" not found`},
		{"/version", "items.first", "x", `GET /version: field "items.first" not found`},
		{"/version", "data.missing", "x", `GET /version: field "data.missing" not found`},
		{"/version", "data.version.major", "1", `GET /version: field "data.version.major" not found`},
		{"/text", "data.version", "1.3", `GET /text: body is not JSON: invalid character 'h' looking for beginning of value`},
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.equals, func(t *testing.T) {
			r := Run(context.Background(), httpSpec(HTTPCheck{Path: tt.path, JSONField: tt.field, JSONEquals: tt.equals}),
				Subject{URL: url})
			if tt.wantErr == "" {
				wantOK(t, r)
				return
			}
			wantFail(t, r, tt.wantErr)
			if len(r.Output) == 0 {
				t.Fatal("a failed check kept no output")
			}
		})
	}
}

func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	url := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	spec := Spec{Name: "slow", Timeout: 200 * time.Millisecond, HTTP: &HTTPCheck{Path: "/slow"}}
	start := time.Now()
	r := Run(context.Background(), spec, Subject{URL: url})
	wantFail(t, r, "GET /slow: no answer within 200ms")
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Run took %s with a 1s timeout", took)
	}
}

func TestHTTPConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	r := Run(context.Background(), httpSpec(HTTPCheck{Path: "/"}), Subject{URL: "http://" + addr})
	if r.OK || !strings.HasPrefix(r.Error, "GET /: ") || !strings.Contains(r.Error, "connection refused") {
		t.Fatalf("got %+v, want a GET / connection refused failure", r)
	}
}

// flaky returns a server URL that answers 503 to the first n requests and
// 200 after, and the count of requests it got.
func flaky(t *testing.T, n int32) (string, *atomic.Int32) {
	var hits atomic.Int32
	url := server(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= n {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	return url, &hits
}

func TestRetries(t *testing.T) {
	spec := Spec{Name: "flaky", Timeout: 5 * time.Second, RetryDelay: 10 * time.Millisecond,
		HTTP: &HTTPCheck{Path: "/flaky"}}

	url, hits := flaky(t, 2)
	spec.Retries = 2
	r := Run(context.Background(), spec, Subject{URL: url})
	if !r.OK || r.Attempts != 3 || r.Error != "" || hits.Load() != 3 {
		t.Fatalf("Retries=2: %+v after %d requests, want OK after 3 attempts", r, hits.Load())
	}
	if r.DurationMS < 20 {
		t.Fatalf("duration %vms does not cover the two 10ms delays", r.DurationMS)
	}

	url, hits = flaky(t, 2)
	spec.Retries = 1
	r = Run(context.Background(), spec, Subject{URL: url})
	if r.OK || r.Attempts != 2 || r.Error != "GET /flaky: status 503, want 200" || hits.Load() != 2 {
		t.Fatalf("Retries=1: %+v after %d requests, want a 503 failure after 2 attempts", r, hits.Load())
	}
}

func TestRetriesStopWhenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		cancel() // the caller gives up while the first attempt is answered
	})
	spec := Spec{Name: "c", Retries: 100, RetryDelay: time.Hour, HTTP: &HTTPCheck{Path: "/"}}
	done := make(chan bluegreen.CheckResult, 1)
	go func() { done <- Run(ctx, spec, Subject{URL: url}) }()
	select {
	case r := <-done:
		if r.OK || r.Attempts != 1 {
			t.Fatalf("got %+v, want a failure after 1 attempt", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept waiting to retry after its context was canceled")
	}

	r := Run(ctx, spec, Subject{URL: url})
	if r.OK || r.Attempts != 0 || r.Error != "not run: context canceled" {
		t.Fatalf("with a canceled context: %+v, want not run", r)
	}
}

func TestInvalidSpec(t *testing.T) {
	r := Run(context.Background(), Spec{Name: "both", Command: "true", HTTP: &HTTPCheck{Path: "/"}}, Subject{})
	if r.OK || r.Attempts != 0 || !strings.Contains(r.Error, "both http and command") {
		t.Fatalf("both set: %+v", r)
	}
	r = Run(context.Background(), Spec{Name: "none"}, Subject{})
	if r.OK || r.Attempts != 0 || !strings.Contains(r.Error, "neither http nor command") {
		t.Fatalf("none set: %+v", r)
	}
}

func TestCommandSeesItsSubject(t *testing.T) {
	t.Setenv("BLUEGREEN_TEST_LEAK", "leaked")
	dir, outDir := t.TempDir(), t.TempDir()
	out := filepath.Join(outDir, "seen")
	script := "#!/bin/sh\n" +
		`printf 'url=%s\ncolor=%s\nleak=%s\npwd=%s\n' "$BLUEGREEN_URL" "$BLUEGREEN_COLOR" "$BLUEGREEN_TEST_LEAK" "$(pwd)" > "$OUT"` + "\n" +
		"echo done\n"
	if err := os.WriteFile(filepath.Join(dir, "smoke.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := Subject{Color: bluegreen.Blue, URL: "http://127.0.0.1:8081", Dir: dir,
		Env: []string{"PATH=/usr/bin:/bin", "OUT=" + out, "BLUEGREEN_COLOR=stale"}}
	r := Run(context.Background(), Spec{Name: "smoke", Command: "./smoke.sh"}, s)
	if !r.OK || r.Kind != "command" || r.Attempts != 1 || r.Output != nil || r.Error != "" {
		t.Fatalf("got %+v, want OK command with no output", r)
	}
	seen, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "url=http://127.0.0.1:8081\ncolor=blue\nleak=\npwd=" + dir + "\n"
	if string(seen) != want {
		t.Fatalf("the command saw\n%s\nwant\n%s", seen, want)
	}
	if s.Env[len(s.Env)-1] != "BLUEGREEN_COLOR=stale" || len(s.Env) != 3 {
		t.Fatalf("Run changed the caller's Env: %q", s.Env)
	}
}

func TestCommandFailureKeepsTheLastLines(t *testing.T) {
	cmd := `i=1; while [ $i -le 30 ]; do echo "line $i"; i=$((i+1)); done; exit 3`
	r := Run(context.Background(), Spec{Name: "tests", Command: cmd}, Subject{Dir: t.TempDir()})
	wantFail(t, r, fmt.Sprintf("%q exited with status 3", cmd))
	if len(r.Output) != 20 || r.Output[0] != "line 11" || r.Output[19] != "line 30" {
		t.Fatalf("output %q, want lines 11 to 30", r.Output)
	}
}

func TestCommandTimeout(t *testing.T) {
	start := time.Now()
	// 1s, not less: on a loaded machine the shell may not have printed its
	// first line 200ms after it was started (seen once in a full run).
	r := Run(context.Background(), Spec{Name: "hang", Command: "echo started; sleep 30", Timeout: time.Second},
		Subject{Env: []string{"PATH=/usr/bin:/bin"}, Dir: t.TempDir()})
	wantFail(t, r, `"echo started; sleep 30" did not finish within 1s`)
	if !slices.Equal(r.Output, []string{"started"}) {
		t.Fatalf("output %q, want the line printed before the timeout", r.Output)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Run took %s with a 1s timeout", took)
	}
}

func TestRunAll(t *testing.T) {
	var hits atomic.Int32
	url := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "ok")
	})
	specs := []Spec{
		{Name: "home", HTTP: &HTTPCheck{Path: "/"}},
		{Name: "broken", Command: "echo nope; exit 1"},
		{Name: "api", HTTP: &HTTPCheck{Path: "/api", BodyContains: "ok"}},
		{Name: "true", Command: "exit 0"},
	}
	var seen []string
	results := RunAll(context.Background(), specs, Subject{URL: url, Dir: t.TempDir()}, func(r bluegreen.CheckResult) {
		seen = append(seen, fmt.Sprintf("%s:%v", r.Name, r.OK))
	})
	want := []string{"home:true", "broken:false", "api:true", "true:true"}
	if !slices.Equal(seen, want) {
		t.Fatalf("onResult saw %q, want %q", seen, want)
	}
	if len(results) != len(specs) {
		t.Fatalf("%d results for %d checks", len(results), len(specs))
	}
	for i, r := range results {
		if got := fmt.Sprintf("%s:%v", r.Name, r.OK); got != want[i] {
			t.Fatalf("result %d is %s, want %s", i, got, want[i])
		}
	}
	if hits.Load() != 2 {
		t.Fatalf("the server got %d requests, want 2: the check after the failure did not run", hits.Load())
	}
	if Passed(results) {
		t.Fatal("Passed with a failing check")
	}
	if !Passed(slices.Delete(slices.Clone(results), 1, 2)) {
		t.Fatal("not Passed with every check OK")
	}
	if RunAll(context.Background(), nil, Subject{}, nil) == nil || !Passed(nil) {
		t.Fatal("no checks: want an empty result list that passes")
	}
}

func TestRunAllAfterCancelReportsNotRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	specs := []Spec{{Name: "first", Command: "exit 0"}, {Name: "second", Command: "exit 0"}}
	var n int
	results := RunAll(ctx, specs, Subject{Dir: t.TempDir()}, func(bluegreen.CheckResult) { n++; cancel() })
	if n != 2 || !results[0].OK || results[1].OK || results[1].Attempts != 0 || results[1].Error != "not run: context canceled" {
		t.Fatalf("%d calls, results %+v: want the first OK and the second not run", n, results)
	}
}

package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/runner"
)

// Defaults and limits of verification checks.
const (
	// DefaultTimeout bounds one attempt when Spec.Timeout is not set.
	DefaultTimeout = 30 * time.Second
	// DefaultRetryDelay is the wait between attempts when Spec.RetryDelay
	// is not set.
	DefaultRetryDelay = time.Second
	// MaxBody is how much of an HTTP answer's body a check reads; a longer
	// body is checked on its first MaxBody bytes only.
	MaxBody = 1 << 20

	userAgent      = "bluegreen-verify"
	bodyLines      = 10   // lines of an HTTP body kept in a failed result
	bodyLineBytes  = 200  // each cut at this many bytes
	outputLineMax  = 1000 // a command's output line is cut at this many bytes
	valueInMessage = 200  // a JSON value quoted in an error is cut at this many bytes
)

// Spec is one configured verification check: exactly one of HTTP and
// Command is set.
type Spec struct {
	// Name names the check in results.
	Name string
	// Timeout bounds one attempt; <= 0 means DefaultTimeout (30s).
	Timeout time.Duration
	// Retries is how many extra attempts follow a failing one (0 = one
	// attempt; negative counts as 0).
	Retries int
	// RetryDelay is the wait between attempts; <= 0 means
	// DefaultRetryDelay (1s).
	RetryDelay time.Duration
	// HTTP, when set, makes this an HTTP check.
	HTTP *HTTPCheck
	// Command, when set, makes this a command check: a shell command line,
	// run with /bin/sh -c. It comes from the configuration, which the
	// operator controls; run-time values reach it only through Subject.Env.
	Command string
}

// HTTPCheck is a request and what its answer must look like. The checks
// apply in order: status, then BodyContains, then JSONField; the first that
// fails is the error.
type HTTPCheck struct {
	// Method is the request method; "" means GET.
	Method string
	// Path starts with "/" and may carry a query; it is appended to
	// Subject.URL.
	Path string
	// Headers are added in config order (a repeated name sends several
	// values); a "Host" header sets the request's Host instead. A
	// "User-Agent" header replaces the default "bluegreen-verify".
	Headers []Header
	// Body is the request body, "" for none.
	Body string
	// Status is the expected status; 0 means 200. Redirects are not
	// followed: a 3xx is a status like any other.
	Status int
	// BodyContains, when not "", must occur in the body (its first MaxBody
	// bytes).
	BodyContains string
	// JSONField, when not "", is a dotted path into a JSON body, e.g.
	// "data.version" or "items.0.id" (a number indexes an array); the
	// field must exist and equal JSONEquals.
	JSONField string
	// JSONEquals is the field's expected value, compared as text: a JSON
	// string compares as its (unescaped) text, any other JSON value by its
	// compact JSON text exactly as the body spells it ("3", "3.0", "true",
	// "null", `{"a":1}`). "" with JSONField set expects an empty string.
	JSONEquals string
}

// Header is one request header of an HTTPCheck.
type Header struct{ Name, Value string }

// Subject is what a suite runs against.
type Subject struct {
	// Color is the color under verification.
	Color bluegreen.Color
	// URL is the base URL of HTTP checks, e.g. "http://127.0.0.1:8081"
	// (the preview listener for an inactive color).
	URL string
	// Dir is the working directory of command checks (the color's release
	// directory); "" means the current one.
	Dir string
	// Env is the environment of command checks (nothing else is
	// inherited); Run appends BLUEGREEN_URL=<URL> and
	// BLUEGREEN_COLOR=<Color>, which win over the same names in Env.
	Env []string
}

// Run runs one check against s, attempting it up to 1+spec.Retries times
// with spec.RetryDelay between attempts, and returns the result of the last
// attempt: OK on the first passing one. A spec with both or neither of HTTP
// and Command fails without an attempt. Run never panics on a bad answer.
// When ctx ends Run stops the running attempt and makes no further one; a
// check not started because ctx had already ended has Attempts 0 and an
// Error starting with "not run". Run is safe for concurrent use.
func Run(ctx context.Context, spec Spec, s Subject) (res bluegreen.CheckResult) {
	start := time.Now()
	res = bluegreen.CheckResult{Name: spec.Name, Kind: "command"}
	if spec.HTTP != nil {
		res.Kind = "http"
	}
	defer func() { res.DurationMS = float64(time.Since(start)) / float64(time.Millisecond) }()

	attempt, err := spec.attempter(s)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	delay := spec.RetryDelay
	if delay <= 0 {
		delay = DefaultRetryDelay
	}
	for {
		if err := ctx.Err(); err != nil {
			if res.Attempts == 0 {
				res.Error = "not run: " + err.Error()
			}
			return res
		}
		res.Attempts++
		out, err := attempt(ctx)
		if err == nil {
			res.OK, res.Error, res.Output = true, "", nil
			return res
		}
		res.Error, res.Output = err.Error(), out
		if res.Attempts > spec.Retries || !wait(ctx, delay) {
			return res
		}
	}
}

// RunAll runs specs in order, one after another (command checks such as a
// test suite may share a database), and returns their results in the same
// order. It runs every check even after a failure; once ctx ends the
// remaining checks are reported as not run. onResult, if not nil, is called
// with each result as its check ends, on the caller's goroutine.
func RunAll(ctx context.Context, specs []Spec, s Subject, onResult func(bluegreen.CheckResult)) []bluegreen.CheckResult {
	results := make([]bluegreen.CheckResult, 0, len(specs))
	for _, spec := range specs {
		r := Run(ctx, spec, s)
		results = append(results, r)
		if onResult != nil {
			onResult(r)
		}
	}
	return results
}

// Passed reports whether every result is OK (true for none).
func Passed(results []bluegreen.CheckResult) bool {
	for _, r := range results {
		if !r.OK {
			return false
		}
	}
	return true
}

// attemptFunc makes one attempt; on failure it returns the lines to keep
// as the result's Output.
type attemptFunc func(ctx context.Context) ([]string, error)

// attempter returns the function that makes one attempt of spec against s.
func (spec Spec) attempter(s Subject) (attemptFunc, error) {
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	switch {
	case spec.HTTP != nil && spec.Command != "":
		return nil, errors.New("invalid check: both http and command are set; want exactly one")
	case spec.HTTP == nil && spec.Command == "":
		return nil, errors.New("invalid check: neither http nor command is set; want exactly one")
	case spec.Command != "":
		env := make([]string, 0, len(s.Env)+2)
		env = append(env, s.Env...)
		env = append(env, "BLUEGREEN_URL="+s.URL, "BLUEGREEN_COLOR="+string(s.Color))
		c := runner.Cmd{Command: spec.Command, Dir: s.Dir, Env: env, Timeout: timeout}
		return func(ctx context.Context) ([]string, error) {
			res, err := runner.Run(ctx, c, nil)
			if err != nil {
				return cutLines(res.Tail, outputLineMax), err
			}
			return nil, nil
		}, nil
	}
	// One client per Run, without keep-alive: every attempt gets a fresh
	// connection and nothing is left open when Run returns. No proxy.
	client := &http.Client{
		Transport: &http.Transport{
			DialContext:       (&net.Dialer{}).DialContext,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	h := spec.HTTP
	return func(ctx context.Context) ([]string, error) {
		return h.do(ctx, client, s.URL, timeout)
	}, nil
}

// wait waits for d and reports true, or reports false as soon as ctx ends.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// do makes one request of h against base within timeout and checks the
// answer. Errors start with the method and path.
func (h *HTTPCheck) do(ctx context.Context, client *http.Client, base string, timeout time.Duration) ([]string, error) {
	method := h.Method
	if method == "" {
		method = http.MethodGet
	}
	target := method + " " + h.Path
	if base == "" {
		return nil, fmt.Errorf("%s: no URL to send it to (the color has no address)", target)
	}
	path := h.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if h.Body != "" {
		body = strings.NewReader(h.Body)
	}
	req, err := http.NewRequestWithContext(actx, method, strings.TrimSuffix(base, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid request: %v", target, err)
	}
	for _, hd := range h.Headers {
		if strings.EqualFold(hd.Name, "Host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Add(hd.Name, hd.Value)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}

	resp, err := client.Do(req)
	if err != nil {
		return nil, attemptError(ctx, actx, target, "no answer within "+timeout.String(), "", err)
	}
	defer resp.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	truncated := len(data) > MaxBody
	if truncated {
		data = data[:MaxBody]
	}
	lines := firstLines(data, bodyLines, bodyLineBytes)

	want := h.Status
	if want == 0 {
		want = http.StatusOK
	}
	if resp.StatusCode != want {
		return lines, fmt.Errorf("%s: status %d, want %d", target, resp.StatusCode, want)
	}
	if readErr != nil {
		return lines, attemptError(ctx, actx, target, "body not complete within "+timeout.String(), "reading body: ", readErr)
	}
	if h.BodyContains != "" && !bytes.Contains(data, []byte(h.BodyContains)) {
		if truncated {
			return lines, fmt.Errorf("%s: body does not contain %q in its first %d bytes", target, h.BodyContains, MaxBody)
		}
		return lines, fmt.Errorf("%s: body does not contain %q", target, h.BodyContains)
	}
	if h.JSONField == "" {
		return nil, nil
	}
	if truncated {
		return lines, fmt.Errorf("%s: body is over %d bytes, too large to check field %q", target, MaxBody, h.JSONField)
	}
	got, found, err := jsonField(data, h.JSONField)
	switch {
	case err != nil:
		return lines, fmt.Errorf("%s: body is not JSON: %v", target, err)
	case !found:
		return lines, fmt.Errorf("%s: field %q not found", target, h.JSONField)
	case got != h.JSONEquals:
		return lines, fmt.Errorf("%s: field %q is %q, want %q", target, h.JSONField, cut(got, valueInMessage), h.JSONEquals)
	}
	return nil, nil
}

// attemptError explains err from an attempt of target: stopped when the
// caller's ctx ended, timedOut when only the attempt's actx did, or err
// itself after prefix.
func attemptError(ctx, actx context.Context, target, timedOut, prefix string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: stopped: %v", target, ctx.Err())
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: %s", target, timedOut)
	}
	return fmt.Errorf("%s: %s%v", target, prefix, unwrapURLError(err))
}

// jsonField finds the value at the dotted path in the JSON document body
// and returns it as text: a string as its unescaped text, anything else as
// its compact JSON. found is false when a step of the path is missing or
// goes into a value that has no fields; err is set when body is not JSON.
func jsonField(body []byte, path string) (text string, found bool, err error) {
	var v json.RawMessage
	if err := json.Unmarshal(body, &v); err != nil {
		return "", false, err
	}
	for _, step := range strings.Split(path, ".") {
		v = bytes.TrimSpace(v)
		switch v[0] {
		case '{':
			var m map[string]json.RawMessage
			if json.Unmarshal(v, &m) != nil {
				return "", false, nil
			}
			next, ok := m[step]
			if !ok {
				return "", false, nil
			}
			v = next
		case '[':
			var a []json.RawMessage
			i, ok := index(step)
			if !ok || json.Unmarshal(v, &a) != nil || i >= len(a) {
				return "", false, nil
			}
			v = a[i]
		default:
			return "", false, nil
		}
	}
	v = bytes.TrimSpace(v)
	if v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return "", false, err
	}
	return buf.String(), true, nil
}

// index parses an array index: decimal digits only.
func index(s string) (int, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

// firstLines returns up to n lines from the start of b, without their line
// endings, each cut at width bytes.
func firstLines(b []byte, n, width int) []string {
	var out []string
	for len(b) > 0 && len(out) < n {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > width+utf8.UTFMax {
			line = line[:width+utf8.UTFMax]
		}
		out = append(out, cut(string(line), width))
	}
	return out
}

// cutLines returns a copy of lines with each cut at width bytes.
func cutLines(lines []string, width int) []string {
	if len(lines) == 0 {
		return nil
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = cut(l, width)
	}
	return out
}

// cut returns s cut to at most n bytes, at a UTF-8 character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// secretPath stands for the credential part of a Slack webhook URL; no
// message, detail or log line may contain it.
const (
	secretPath   = "/services/T000/B000/s3cr3tT0ken"
	secretHeader = "Bearer hdr-s3cr3t"
)

// deadline bounds every wait of these tests; they wait on conditions, never
// on fixed sleeps.
const deadline = 10 * time.Second

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// request is what a receiver saw.
type request struct {
	method, path string
	header       http.Header
	body         []byte
}

// receiver is a real HTTP server on 127.0.0.1 that reports every request on
// reqs, then answers with answer (200 when nil). n counts from 1.
type receiver struct {
	srv   *httptest.Server
	reqs  chan request
	count atomic.Int64
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int64)) *receiver {
	t.Helper()
	rc := &receiver{reqs: make(chan request, 100)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := rc.count.Add(1)
		rc.reqs <- request{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body}
		if answer != nil {
			answer(w, r, n)
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// url is the receiver's URL with the secret path.
func (rc *receiver) url() string { return rc.srv.URL + secretPath }

// next waits for the next request.
func (rc *receiver) next(t *testing.T) request {
	t.Helper()
	select {
	case r := <-rc.reqs:
		return r
	case <-time.After(deadline):
		t.Fatalf("the receiver got no request within %s", deadline)
	}
	panic("unreachable")
}

// drain returns the requests already received, without waiting.
func (rc *receiver) drain() []request {
	var out []request
	for {
		select {
		case r := <-rc.reqs:
			out = append(out, r)
		default:
			return out
		}
	}
}

// recorder collects the events a Notifier records.
type recorder chan bluegreen.Event

func (r recorder) record(ev bluegreen.Event) { r <- ev }

func (r recorder) next(t *testing.T) bluegreen.Event {
	t.Helper()
	select {
	case ev := <-r:
		return ev
	case <-time.After(deadline):
		t.Fatalf("nothing was recorded within %s", deadline)
	}
	panic("unreachable")
}

// start builds a Notifier that is closed when the test ends.
func start(t *testing.T, hooks []Webhook, opts Options) *Notifier {
	t.Helper()
	n, err := New(hooks, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n
}

// closeNow closes n and fails the test if queued events were not all
// handled within the deadline.
func closeNow(t *testing.T, n *Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func switchEvent(id int64) bluegreen.Event {
	return bluegreen.Event{
		ID: id, Time: t0, Actor: "alice", Action: bluegreen.ActionSwitch, Color: bluegreen.Green,
		Outcome: bluegreen.OutcomeOK, Revision: 3, Message: "switched traffic from blue to green",
		Details: map[string]any{"from": "blue", "to": "green"},
	}
}

func decodePayload(t *testing.T, body []byte) Payload {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p Payload
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("the JSON body is not a Payload: %v\n%s", err, body)
	}
	return p
}

func decodeSlack(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("the slack body is not JSON: %v\n%s", err, body)
	}
	text, ok := m["text"].(string)
	if len(m) != 1 || !ok {
		t.Fatalf("the slack body is %s; want exactly {\"text\": \"...\"}", body)
	}
	return text
}

// assertNoSecret fails if s contains any part of the webhook's secrets.
func assertNoSecret(t *testing.T, where, s string) {
	t.Helper()
	for _, sec := range []string{"s3cr3t", "/services", "T000/B000"} {
		if strings.Contains(s, sec) {
			t.Errorf("%s leaks the secret %q: %s", where, sec, s)
		}
	}
}

func TestJSONReceiverGetsASwitch(t *testing.T) {
	rc := newReceiver(t, nil)
	n := start(t, []Webhook{{Name: "ops", URL: rc.url(),
		Headers: []Header{{Name: "Authorization", Value: secretHeader}}}}, Options{Source: "prod-1"})

	ev := switchEvent(7)
	n.Notify(ev)
	ev.Details["from"] = "changed after Notify" // Notify must have copied what it sends

	r := rc.next(t)
	if r.method != http.MethodPost || r.path != secretPath {
		t.Errorf("request %s %s; want POST %s", r.method, r.path, secretPath)
	}
	for name, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "bluegreen-notify",
		"Authorization": secretHeader} {
		if got := r.header.Get(name); got != want {
			t.Errorf("header %s = %q; want %q", name, got, want)
		}
	}
	p := decodePayload(t, r.body)
	if p.Kind != KindSwitch || p.Source != "prod-1" {
		t.Errorf("kind %q, source %q; want switch, prod-1", p.Kind, p.Source)
	}
	if want := "prod-1: switch to green succeeded: switched traffic from blue to green (by alice)"; p.Text != want {
		t.Errorf("text %q;\nwant %q", p.Text, want)
	}
	e := p.Event
	if e.ID != 7 || e.Action != bluegreen.ActionSwitch || e.Color != bluegreen.Green || e.Outcome != bluegreen.OutcomeOK ||
		e.Actor != "alice" || e.Revision != 3 || !e.Time.Equal(t0) || e.Details["from"] != "blue" || e.Details["to"] != "green" {
		t.Errorf("event in the body = %+v; want the switch event as notified", e)
	}
}

func TestSlackReceiverGetsText(t *testing.T) {
	rc := newReceiver(t, nil)
	n := start(t, []Webhook{{Name: "slack-ops", URL: rc.url(), Format: FormatSlack}}, Options{})

	n.Notify(switchEvent(1))
	text := decodeSlack(t, rc.next(t).body)
	if want := ":large_green_circle: switch to green succeeded: switched traffic from blue to green (by alice)"; text != want {
		t.Errorf("slack text %q;\nwant %q", text, want)
	}

	// A refused switch is a failure; markup in its message is escaped, so
	// event text cannot ping a channel.
	refused := switchEvent(2)
	refused.Outcome = bluegreen.OutcomeRefused
	refused.Message = "switch refused: green is unhealthy <!here> & retry"
	n.Notify(refused)
	text = decodeSlack(t, rc.next(t).body)
	want := ":red_circle: switch to green refused: switch refused: green is unhealthy &lt;!here&gt; &amp; retry (by alice)"
	if text != want {
		t.Errorf("slack text %q;\nwant %q", text, want)
	}
}

func TestAutomaticRollbackSaysAutomatic(t *testing.T) {
	js, sl := newReceiver(t, nil), newReceiver(t, nil)
	n := start(t, []Webhook{{Name: "json", URL: js.url()}, {Name: "slack", URL: sl.url(), Format: FormatSlack}},
		Options{Source: "prod-1"})

	auto := bluegreen.Event{ID: 9, Time: t0, Actor: "bluegreen", Action: bluegreen.ActionRollback, Color: bluegreen.Blue,
		Outcome: bluegreen.OutcomeOK, Message: "rolled back traffic from green to blue",
		Details: map[string]any{"automatic": true, "from": "green", "to": "blue"}}
	n.Notify(auto)

	p := decodePayload(t, js.next(t).body)
	want := "prod-1: automatic rollback to blue succeeded: rolled back traffic from green to blue (by bluegreen)"
	if p.Kind != KindRollback || p.Text != want || p.Event.Details["automatic"] != true {
		t.Errorf("payload kind %q text %q details %v;\nwant rollback, %q, automatic=true", p.Kind, p.Text, p.Event.Details, want)
	}
	if text := decodeSlack(t, sl.next(t).body); text != ":warning: "+want {
		t.Errorf("slack text %q;\nwant %q", text, ":warning: "+want)
	}

	manual := auto
	manual.Actor, manual.Details = "alice", nil
	n.Notify(manual)
	if p := decodePayload(t, js.next(t).body); strings.Contains(p.Text, "automatic") ||
		!strings.HasPrefix(p.Text, "prod-1: rollback to blue succeeded") {
		t.Errorf("manual rollback text %q; want \"prod-1: rollback to blue succeeded...\" without \"automatic\"", p.Text)
	}
}

func TestKind(t *testing.T) {
	ev := func(action bluegreen.Action, outcome bluegreen.Outcome) bluegreen.Event {
		return bluegreen.Event{Action: action, Outcome: outcome}
	}
	cases := []struct {
		ev   bluegreen.Event
		want string
	}{
		{ev(bluegreen.ActionDeploy, bluegreen.OutcomeOK), KindDeploy},
		{ev(bluegreen.ActionVerify, bluegreen.OutcomeOK), KindVerify},
		{ev(bluegreen.ActionSwitch, bluegreen.OutcomeOK), KindSwitch},
		{ev(bluegreen.ActionRollback, bluegreen.OutcomeOK), KindRollback},
		{ev(bluegreen.ActionDeploy, bluegreen.OutcomeFailed), KindFailure},
		{ev(bluegreen.ActionVerify, bluegreen.OutcomeFailed), KindFailure},
		{ev(bluegreen.ActionSwitch, bluegreen.OutcomeRefused), KindFailure},
		{ev(bluegreen.ActionRollback, bluegreen.OutcomeFailed), KindFailure},
		{ev(bluegreen.ActionWatch, bluegreen.OutcomeFailed), KindFailure},
		{ev(bluegreen.ActionWatch, bluegreen.OutcomeOK), ""},
		{ev(bluegreen.ActionHealth, bluegreen.OutcomeFailed), ""},
		{ev(bluegreen.ActionDrain, bluegreen.OutcomeFailed), ""},
		{ev(bluegreen.ActionLock, bluegreen.OutcomeOK), ""},
		{ev(bluegreen.ActionProcess, bluegreen.OutcomeFailed), ""},
		{ev(bluegreen.ActionServe, bluegreen.OutcomeOK), ""},
		{ev(bluegreen.ActionNotify, bluegreen.OutcomeFailed), ""},
	}
	for _, c := range cases {
		if got := Kind(c.ev); got != c.want {
			t.Errorf("Kind(%s %s) = %q; want %q", c.ev.Action, c.ev.Outcome, got, c.want)
		}
	}
}

func TestOnFilter(t *testing.T) {
	switches, failures, all := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	n := start(t, []Webhook{
		{Name: "switches", URL: switches.url(), On: []string{KindSwitch}},
		{Name: "failures", URL: failures.url(), On: []string{KindFailure}},
		{Name: "all", URL: all.url()},
	}, Options{})

	deployOK := bluegreen.Event{ID: 1, Action: bluegreen.ActionDeploy, Color: bluegreen.Green, Outcome: bluegreen.OutcomeOK}
	switchOK := switchEvent(2)
	switchFailed := switchEvent(3)
	switchFailed.Outcome = bluegreen.OutcomeFailed
	deployFailed := bluegreen.Event{ID: 4, Action: bluegreen.ActionDeploy, Color: bluegreen.Green, Outcome: bluegreen.OutcomeFailed}
	health := bluegreen.Event{ID: 5, Action: bluegreen.ActionHealth, Color: bluegreen.Green, Outcome: bluegreen.OutcomeFailed}
	notify := bluegreen.Event{ID: 6, Action: bluegreen.ActionNotify, Outcome: bluegreen.OutcomeFailed}
	for _, ev := range []bluegreen.Event{deployOK, switchOK, switchFailed, deployFailed, health, notify} {
		n.Notify(ev)
	}
	closeNow(t, n) // delivers everything queued

	got := func(rc *receiver) string {
		var ids []string
		for _, r := range rc.drain() {
			p := decodePayload(t, r.body)
			ids = append(ids, fmt.Sprintf("%d:%s", p.Event.ID, p.Kind))
		}
		return strings.Join(ids, " ")
	}
	for _, c := range []struct {
		rc   *receiver
		name string
		want string
	}{
		{switches, "On [switch]", "2:switch 3:failure"},
		{failures, "On [failure]", "3:failure 4:failure"},
		{all, "On []", "1:deploy 2:switch 3:failure 4:failure"},
	} {
		if g := got(c.rc); g != c.want {
			t.Errorf("%s received %q; want %q (id:kind, in order)", c.name, g, c.want)
		}
	}
}

func TestRetriesUntilDelivered(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusInternalServerError)
		case 2:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	rec := make(recorder, 10)
	n := start(t, []Webhook{{Name: "ops", URL: rc.url(), Retries: 2}},
		Options{Record: rec.record, RetryDelay: time.Millisecond})

	n.Notify(switchEvent(1))
	closeNow(t, n)

	reqs := rc.drain()
	if len(reqs) != 3 {
		t.Fatalf("the receiver got %d requests; want 3 (500, 429, then 200)", len(reqs))
	}
	for i, r := range reqs[1:] {
		if !bytes.Equal(r.body, reqs[0].body) {
			t.Errorf("attempt %d sent a different body:\n%s\nwant\n%s", i+2, r.body, reqs[0].body)
		}
	}
	if len(rec) != 0 {
		t.Errorf("a delivered event was recorded as failed: %+v", <-rec)
	}
}

func TestDownReceiverNeverBlocksNotify(t *testing.T) {
	url := downURL(t)
	rec := make(recorder, 10)
	// A retry delay of an hour: once the first attempt fails, the delivery
	// stays pending until Close gives up on it.
	n, err := New([]Webhook{{Name: "ops", URL: url}}, Options{Record: rec.record, RetryDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	n.Notify(switchEvent(1)) // returns although the delivery cannot succeed
	select {
	case ev := <-rec:
		t.Fatalf("a failure was recorded before the retries were over: %+v", ev)
	default:
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close with a cancelled ctx = %v; want an error wrapping context.Canceled", err)
	}
	ev := rec.next(t)
	if ev.Action != bluegreen.ActionNotify || ev.Outcome != bluegreen.OutcomeFailed || !strings.Contains(ev.Message, "shutdown") {
		t.Errorf("recorded %+v; want a failed notify event saying the delivery was abandoned at shutdown", ev)
	}
	assertNoSecret(t, "the recorded message", ev.Message)
	assertNoSecret(t, "the recorded details", fmt.Sprint(ev.Details))
}

func TestDownReceiverIsRecordedWithoutSecrets(t *testing.T) {
	url := downURL(t)
	rec := make(recorder, 10)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := start(t, []Webhook{{Name: "slack-ops", URL: url, Format: FormatSlack,
		Headers: []Header{{Name: "Authorization", Value: secretHeader}}}},
		Options{Record: rec.record, Logger: logger, RetryDelay: time.Millisecond})

	n.Notify(switchEvent(12))
	ev := rec.next(t)
	target := "http://" + strings.TrimPrefix(strings.TrimSuffix(url, secretPath), "http://")
	wantPrefix := fmt.Sprintf("webhook \"slack-ops\" (%s) failed after 3 attempts: ", target)
	if ev.Action != bluegreen.ActionNotify || ev.Outcome != bluegreen.OutcomeFailed || ev.Actor != "bluegreen" ||
		ev.Color != bluegreen.Green || !strings.HasPrefix(ev.Message, wantPrefix) || !strings.Contains(ev.Message, "connection refused") {
		t.Errorf("recorded %+v;\nwant a failed notify event by bluegreen on green with a message starting %q and saying connection refused",
			ev, wantPrefix)
	}
	d := ev.Details
	if d["webhook"] != "slack-ops" || d["event_id"] != int64(12) || d["action"] != string(bluegreen.ActionSwitch) ||
		d["attempts"] != 3 || d["target"] != target || !strings.Contains(fmt.Sprint(d["error"]), "connection refused") {
		t.Errorf("details %v; want webhook, target, event_id 12, action switch, attempts 3 and the error", d)
	}
	closeNow(t, n) // the log is complete once the worker returned
	for where, s := range map[string]string{"the message": ev.Message, "the details": fmt.Sprint(d), "the log": logs.String()} {
		assertNoSecret(t, where, s)
		if strings.Contains(s, "hdr-") {
			t.Errorf("%s leaks the header value: %s", where, s)
		}
	}
	if !strings.Contains(logs.String(), "slack-ops") {
		t.Errorf("the log does not mention the failing webhook:\n%s", logs.String())
	}
}

// downURL returns a URL on 127.0.0.1 where nothing listens.
func downURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + secretPath
}

func TestHangingReceiverIsCutAtTimeout(t *testing.T) {
	release, cut := make(chan struct{}), make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		select {
		case <-r.Context().Done(): // the notifier hung up
			close(cut)
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	rec := make(recorder, 10)
	n := start(t, []Webhook{{Name: "slow", URL: rc.url(), Timeout: 100 * time.Millisecond, Retries: -1}},
		Options{Record: rec.record})

	n.Notify(switchEvent(1))
	ev := rec.next(t)
	if !strings.HasSuffix(ev.Message, "failed after 1 attempt: no answer within 100ms") || ev.Details["attempts"] != 1 {
		t.Errorf("recorded %q (details %v); want a failure after 1 attempt with no answer within 100ms", ev.Message, ev.Details)
	}
	select {
	case <-cut:
	case <-time.After(deadline):
		t.Fatal("the receiver never saw the notifier hang up")
	}
}

func TestNotRetried(t *testing.T) {
	cases := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		want   string
	}{
		{"404 with a Slack error code", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no_service", http.StatusNotFound)
		}, "status 404: no_service"},
		{"404 echoing the path", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "Cannot POST "+r.URL.Path, http.StatusNotFound)
		}, "status 404"},
		{"400", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
		}, "status 400: invalid_payload"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, "status 302 (redirects are not followed; configure the final URL)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int64) { c.answer(w, r) })
			rec := make(recorder, 10)
			n := start(t, []Webhook{{Name: "ops", URL: rc.url(), Retries: 5}},
				Options{Record: rec.record, RetryDelay: time.Millisecond})
			n.Notify(switchEvent(1))
			ev := rec.next(t)
			if !strings.HasSuffix(ev.Message, "failed after 1 attempt: "+c.want) || ev.Details["attempts"] != 1 {
				t.Errorf("recorded %q (details %v); want a failure after 1 attempt: %s", ev.Message, ev.Details, c.want)
			}
			assertNoSecret(t, "the recorded message", ev.Message)
			closeNow(t, n)
			if got := rc.count.Load(); got != 1 {
				t.Errorf("the receiver got %d requests; want 1 (no retry)", got)
			}
		})
	}
}

func TestCloseDeliversQueuedEvents(t *testing.T) {
	gate, started := make(chan struct{}), make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			close(started)
			<-gate
		}
	})
	n, err := New([]Webhook{{Name: "ops", URL: rc.url()}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 3; id++ {
		n.Notify(switchEvent(id))
	}
	<-started

	closed := make(chan error, 1)
	go func() { closed <- n.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while events were still queued", err)
	default:
	}
	close(gate)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(deadline):
		t.Fatal("Close did not return after the receiver answered")
	}
	var ids []int64
	for _, r := range rc.drain() {
		ids = append(ids, decodePayload(t, r.body).Event.ID)
	}
	if fmt.Sprint(ids) != "[1 2 3]" {
		t.Errorf("delivered by the time Close returned: %v; want [1 2 3]", ids)
	}

	n.Notify(switchEvent(4)) // after Close: ignored, no panic
	if err := n.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := rc.count.Load(); got != 3 {
		t.Errorf("the receiver got %d requests; want 3 (nothing after Close)", got)
	}
}

func TestFullQueueDropsAndRecords(t *testing.T) {
	gate, started := make(chan struct{}), make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			close(started)
			<-gate
		}
	})
	rec := make(recorder, 10)
	n := start(t, []Webhook{{Name: "ops", URL: rc.url()}}, Options{Record: rec.record, QueueSize: 2})

	n.Notify(switchEvent(1))
	<-started // event 1 left the queue: the worker is stuck delivering it
	for id := int64(2); id <= 5; id++ {
		n.Notify(switchEvent(id)) // 2 and 3 fill the queue; 4 and 5 are dropped
	}
	select {
	case ev := <-rec:
		t.Fatalf("recorded %q before the worker was free; drops are recorded by the worker", ev.Message)
	default:
	}
	close(gate)

	ev := rec.next(t)
	if ev.Action != bluegreen.ActionNotify || ev.Outcome != bluegreen.OutcomeFailed ||
		!strings.Contains(ev.Message, `webhook "ops"`) || !strings.Contains(ev.Message, "dropped 2 events: its queue of 2 was full") ||
		ev.Details["dropped"] != 2 || ev.Details["event_id"] != int64(4) {
		t.Errorf("recorded %q (details %v); want 2 events dropped, the first being event 4", ev.Message, ev.Details)
	}
	assertNoSecret(t, "the recorded message", ev.Message)
	closeNow(t, n)
	var ids []int64
	for _, r := range rc.drain() {
		ids = append(ids, decodePayload(t, r.body).Event.ID)
	}
	if fmt.Sprint(ids) != "[1 2 3]" {
		t.Errorf("delivered %v; want [1 2 3]", ids)
	}
}

func TestNewValidates(t *testing.T) {
	good := Webhook{Name: "ops", URL: "https://hooks.example.com" + secretPath}
	with := func(f func(w *Webhook)) []Webhook {
		w := good
		f(&w)
		return []Webhook{w}
	}
	cases := []struct {
		name  string
		hooks []Webhook
		want  string
	}{
		{"no name", with(func(w *Webhook) { w.Name = "" }), "webhook without a name"},
		{"no url", with(func(w *Webhook) { w.URL = "" }), `webhook "ops": url is empty`},
		{"bad url", with(func(w *Webhook) { w.URL += "%zz" }), `webhook "ops": url is not a valid URL`},
		{"bad scheme", with(func(w *Webhook) { w.URL = "ftp://hooks.example.com" + secretPath }), `url scheme "ftp" is not supported`},
		{"no host", with(func(w *Webhook) { w.URL = "https://" + secretPath }), `webhook "ops": url has no host`},
		{"bad format", with(func(w *Webhook) { w.Format = "xml" }), `unknown format "xml"`},
		{"bad kind", with(func(w *Webhook) { w.On = []string{"switch", "health"} }), `unknown event kind "health"`},
		{"too many retries", with(func(w *Webhook) { w.Retries = 11 }), "retries 11 is too many; want at most 10"},
		{"bad header name", with(func(w *Webhook) { w.Headers = []Header{{Name: "X Token", Value: "v"}} }), `header name "X Token"`},
		{"header injection", with(func(w *Webhook) {
			w.Headers = []Header{{Name: "Authorization", Value: secretHeader + "\r\nX-Evil: 1"}}
		}), `the value of header "Authorization" contains a line break`},
		{"duplicate", []Webhook{good, good}, `webhook "ops" is configured twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := New(c.hooks, Options{})
			if err == nil {
				n.Close(context.Background())
				t.Fatalf("New accepted %+v", c.hooks)
			}
			if bluegreen.ErrorCode(err) != bluegreen.EINVALID || !strings.Contains(err.Error(), c.want) {
				t.Errorf("New: %v (code %s); want an invalid error containing %q", err, bluegreen.ErrorCode(err), c.want)
			}
			assertNoSecret(t, "the error", err.Error())
			if strings.Contains(err.Error(), "hdr-") {
				t.Errorf("the error leaks the header value: %v", err)
			}
		})
	}

	n, err := New([]Webhook{good, {Name: "slack", URL: "http://127.0.0.1:9/x", Format: FormatSlack,
		On: []string{KindFailure}, Retries: -1}}, Options{})
	if err != nil {
		t.Fatalf("New rejected valid webhooks: %v", err)
	}
	closeNow(t, n)
}

func TestNoHooks(t *testing.T) {
	n := start(t, nil, Options{})
	n.Notify(switchEvent(1)) // nothing to do, must not block or panic
	closeNow(t, n)
}

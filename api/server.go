// Package api is bluegreen's HTTP JSON API: the server side (Handler) that
// exposes a Service, and the Client the CLI uses.
//
// Every route needs "Authorization: Bearer <token>" except the live color
// (GET /v1/color and the configured color path) and the liveness probe
// (GET /livez). Errors are JSON
// {"error":{"code":"...","message":"..."}} with the status from one table
// (statusOf).
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Service is what the API exposes. The controller implements it.
type Service interface {
	Status(ctx context.Context) (bluegreen.Status, error)
	Switch(ctx context.Context, req bluegreen.SwitchRequest) (bluegreen.SwitchResult, error)
	Rollback(ctx context.Context, req bluegreen.SwitchRequest) (bluegreen.SwitchResult, error)
	History(ctx context.Context, f bluegreen.HistoryFilter) ([]bluegreen.Event, error)
	Live() bluegreen.Color
	// Deploy deploys a release into the inactive color, reporting progress
	// (from one goroutine at a time) until it returns.
	Deploy(ctx context.Context, req bluegreen.DeployRequest, progress func(bluegreen.Progress)) (bluegreen.Deployment, error)
	// DeployDetached starts a deployment and returns it while it runs.
	DeployDetached(ctx context.Context, req bluegreen.DeployRequest) (bluegreen.Deployment, error)
	// Deployment returns a deployment by id (ENOTFOUND when unknown).
	Deployment(ctx context.Context, id string) (bluegreen.Deployment, error)
	// DeploymentLog returns a deployment's progress lines from line from on.
	DeploymentLog(id string, from int) ([]bluegreen.Progress, bool)
	// AppLog returns the last n lines of a color's app output.
	AppLog(c bluegreen.Color, n int) ([]string, error)
	// Lock returns the operation lock, nil when free.
	Lock() *bluegreen.Lock
	// ReleaseLock frees the lock (see controller.ReleaseLock).
	ReleaseLock(ctx context.Context, actor string, force bool) error
	// Verify runs a color's checks, calling onResult as each ends.
	Verify(ctx context.Context, req bluegreen.VerifyRequest, onResult func(bluegreen.CheckResult)) (bluegreen.Verification, error)
	// Approve records an approval of a color's current release.
	Approve(ctx context.Context, req bluegreen.ApproveRequest) (bluegreen.Approval, error)
	// DNSPrepare lowers the switched DNS record's TTL.
	DNSPrepare(ctx context.Context, ttl time.Duration, actor string) (bluegreen.DNSPrepareReport, error)
	// HostInfo returns what is known of the host named host: the color
	// whose hosts list it, its address, its last health probe and the
	// color's release; ENOTFOUND when no color lists it. It only reads.
	HostInfo(ctx context.Context, host string) (bluegreen.HostInfo, error)
	// ReleaseArchive writes to w a tar archive of the tree of the commit
	// sha, a release host may run; it fails before writing anything with
	// ENOTFOUND when there is no repository, no such host, or sha is not a
	// release of the host's color.
	ReleaseArchive(ctx context.Context, host, sha string, w io.Writer) error
	// AgentReport keeps what the agent of host reports and answers what
	// HostInfo answers, with the order the host is to carry out, if any;
	// ENOTFOUND when no color lists host.
	// With wait > 0 an answer with nothing new for the agent waits up to
	// wait for the host's order to change.
	AgentReport(ctx context.Context, host string, rep bluegreen.AgentReport, wait time.Duration) (bluegreen.HostInfo, error)
	// HostLog returns the last n lines of the app output host's agent last
	// reported; ENOTFOUND when no color lists host or its agent has not
	// reported.
	HostLog(ctx context.Context, host string, n int) ([]string, error)
}

// ActorHeader carries the caller's claimed identity (e.g. "alice@laptop" or a
// CI run); it is recorded in the history.
const ActorHeader = "X-Bluegreen-Actor"

// Options configures the handler.
type Options struct {
	// Token is the bearer token every protected route requires. Required.
	Token string
	// ColorPath is the live-color path served without a token
	// (default "/deployment/color/").
	ColorPath string
	Logger    *slog.Logger
	// Metrics serves GET /metrics (behind the token); nil means 404.
	Metrics http.Handler
	// Tokens holds the named tokens with roles; nil means Token is the only
	// one. Token (the token file's) always has the admin role.
	Tokens bluegreen.TokenStore
	// Record records events the API itself makes (tokens created or
	// revoked, calls refused for their role); nil drops them.
	Record func(bluegreen.Event)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// HandOver starts serve's hand-over to a new serve (as SIGUSR2 does)
	// and returns at once, with serve's pid; an error (ECONFLICT: one is
	// pending) refuses the call. nil means POST /v1/handover is refused.
	HandOver func() (pid int, err error)
	// AuthLimit bounds failed authentications per client address; the
	// zero value means DefaultAuthLimit.
	AuthLimit AuthLimit
	// Leader, when not nil, says whether this instance leads the ones
	// sharing the state (etcd) and where the leader is. A follower passes
	// the calls only the leader serves (switch, rollback, deploy and its
	// deployments, app logs, lock release, verify, approve, DNS prepare)
	// to the leader and answers with the leader's answer; the others
	// (status, history, tokens, the color) it answers itself.
	Leader LeaderFunc
	// LeaderTransport carries the calls passed to the leader; nil means
	// http.DefaultTransport.
	LeaderTransport http.RoundTripper
}

// APIHeader is set on every answer of the API, errors included, so that a
// client can tell the API from whatever else answers at the address it was
// given (the router's public or preview listener, which would pass the
// call on to an app). Its value is the API's version, "1".
const APIHeader = "X-Bluegreen-API"

// AdminTokenName is the name the history gives the token file's token.
const AdminTokenName = "admin"

type server struct {
	svc        Service
	tokenHash  [sha256.Size]byte
	logger     *slog.Logger
	tokens     bluegreen.TokenStore
	record     func(bluegreen.Event)
	now        func() time.Time
	handOverFn func() (int, error)
	limiter    *authLimiter
	refusedLog *logLimiter

	leader          LeaderFunc
	leaderTransport http.RoundTripper
}

// NewHandler returns the API's http.Handler. It panics if o.Token is empty: an
// API without a token is a programming error, never a default.
func NewHandler(svc Service, o Options) http.Handler {
	if o.Token == "" {
		panic("api: empty token")
	}
	if o.ColorPath == "" {
		o.ColorPath = "/deployment/color/"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Record == nil {
		o.Record = func(bluegreen.Event) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &server{svc: svc, tokenHash: sha256.Sum256([]byte(o.Token)), logger: o.Logger.With("component", "api"),
		tokens: o.Tokens, record: o.Record, now: o.Now, handOverFn: o.HandOver, limiter: newAuthLimiter(o.AuthLimit, o.Now),
		refusedLog: &logLimiter{every: time.Minute, now: o.Now}, leader: o.Leader, leaderTransport: o.LeaderTransport}
	viewer, deployer, admin := s.auth(bluegreen.RoleViewer), s.auth(bluegreen.RoleDeployer), s.auth(bluegreen.RoleAdmin)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	color := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"color":"` + string(svc.Live()) + `"}`))
	}
	mux.HandleFunc("GET /v1/color", color)
	mux.Handle("GET /v1/status", viewer(s.status))
	mux.Handle("GET /v1/health", viewer(s.health))
	mux.Handle("POST /v1/switch", deployer(s.leaderOnly(s.switchColor)))
	mux.Handle("POST /v1/rollback", deployer(s.leaderOnly(s.rollback)))
	mux.Handle("GET /v1/history", viewer(s.history))
	mux.Handle("POST /v1/deploy", deployer(s.leaderOnly(s.deploy)))
	mux.Handle("GET /v1/deployments/{id}", viewer(s.leaderOnly(s.deployment)))
	mux.Handle("GET /v1/logs/{color}", viewer(s.leaderOnly(s.appLog)))
	mux.Handle("GET /v1/lock", viewer(s.lock))
	mux.Handle("DELETE /v1/lock", deployer(s.leaderOnly(s.releaseLock)))
	mux.Handle("POST /v1/verify", deployer(s.leaderOnly(s.verify)))
	mux.Handle("POST /v1/approve", deployer(s.leaderOnly(s.approve)))
	mux.Handle("GET /v1/whoami", viewer(s.whoami))
	mux.Handle("POST /v1/dns/prepare", deployer(s.leaderOnly(s.dnsPrepare)))
	mux.Handle("POST /v1/tokens", admin(s.createToken))
	mux.Handle("GET /v1/tokens", admin(s.listTokens))
	mux.Handle("DELETE /v1/tokens/{name}", admin(s.revokeToken))
	mux.Handle("POST /v1/handover", admin(s.handOver))
	mux.Handle("GET /v1/agent/{host}", s.agent(s.leaderOnly(s.hostInfo)))
	mux.Handle("POST /v1/agent/{host}", s.agent(s.leaderOnly(s.agentReport)))
	mux.Handle("GET /v1/agent/{host}/release/{sha}", s.agent(s.leaderOnly(s.releaseArchive)))
	if o.Metrics != nil {
		mux.Handle("GET /metrics", viewer(func(w http.ResponseWriter, r *http.Request) error {
			o.Metrics.ServeHTTP(w, r)
			return nil
		}))
	}
	mux.Handle("/", viewer(func(w http.ResponseWriter, r *http.Request) error {
		return bluegreen.Errorf(bluegreen.ENOTFOUND, "no such API route: %s %s", r.Method, r.URL.Path)
	}))
	// The configured color path is matched exactly, as the router does, and
	// kept out of the mux: its pattern syntax must not reinterpret it.
	colorPath := o.ColorPath
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(APIHeader, "1")
		if r.URL.Path == colorPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			color(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// handlerFunc is an HTTP handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// auth returns a wrapper that authenticates the bearer token, refuses (403,
// recorded) a caller whose role does not allow need, puts the caller into
// the request's context, then runs h and writes its error, if any, as JSON.
//
// A client address that failed to authenticate too often (AuthLimit) is
// answered 429 with Retry-After before its token is looked at. Failed
// authentications are logged at the first of a run and when the address
// runs out, not each: they cannot flood the log, and are not recorded in
// the history (which only authenticated callers add to).
func (s *server) auth(need bluegreen.Role) func(h handlerFunc) http.Handler {
	return func(h handlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d := s.limiter.wait(r.RemoteAddr); d > 0 {
				secs := int(math.Ceil(d.Seconds()))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				s.writeError(w, r, bluegreen.Errorf(bluegreen.ELIMITED,
					"too many failed authentications from %s: try again in %ds", clientKey(r.RemoteAddr), secs))
				return
			}
			caller, err := s.authenticate(r)
			switch {
			case err != nil:
				w.Header().Set("WWW-Authenticate", `Bearer realm="bluegreen"`)
				if bluegreen.ErrorCode(err) == bluegreen.EUNAUTHORIZED {
					first, limited := s.limiter.fail(r.RemoteAddr)
					switch {
					case limited:
						s.logger.Warn("failed API authentications: this address is now answered 429 until it slows down",
							"remote", clientKey(r.RemoteAddr), "method", r.Method, "path", r.URL.Path)
					case first:
						s.logger.Warn("unauthorized API call", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
					}
				}
			case !caller.Role.Allows(need):
				err = s.forbidden(r, caller, need)
			default:
				caller.RunURL = runURLOf(r)
				err = h(w, r.WithContext(bluegreen.WithCaller(r.Context(), caller)))
			}
			if err != nil {
				s.writeError(w, r, err)
			}
		})
	}
}

// authenticate finds the caller of r by its bearer token: the token file's
// (admin), else a named token from the store.
func (s *server) authenticate(r *http.Request) (bluegreen.Caller, error) {
	unauthorized := bluegreen.Errorf(bluegreen.EUNAUTHORIZED, "missing or wrong API token")
	// The scheme is case-insensitive (RFC 9110 section 11.1).
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return bluegreen.Caller{}, unauthorized
	}
	// Comparing fixed-size hashes keeps the comparison constant-time even
	// when lengths differ. Named tokens are found by their hash: the
	// lookup's timing tells nothing about the secret.
	h := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1 {
		return bluegreen.Caller{Token: AdminTokenName, Role: bluegreen.RoleAdmin}, nil
	}
	if s.tokens == nil {
		return bluegreen.Caller{}, unauthorized
	}
	t, err := s.tokens.LookupToken(r.Context(), h)
	if bluegreen.ErrorCode(err) == bluegreen.ENOTFOUND {
		return bluegreen.Caller{}, unauthorized
	}
	if err != nil {
		return bluegreen.Caller{}, err
	}
	return bluegreen.Caller{Token: t.Name, Role: t.Role, Host: t.Host}, nil
}

// forbidden records and returns the refusal of a call beyond the caller's role.
func (s *server) forbidden(r *http.Request, c bluegreen.Caller, need bluegreen.Role) error {
	msg := fmt.Sprintf("token %q (%s) may not %s: that needs the %s role", c.Token, c.Role, routeOf(r), need)
	return s.refuse(r, c, msg, map[string]any{"needs": need})
}

// routeOf is the route r matched: its pattern, not its path, so that
// refusals of one route are one kind however the path varies (see
// controller.Options.RefusalWindow).
func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method + " " + r.URL.Path
}

// refuse logs (at most once a minute per token and route) and records the
// refusal of c's call r, and returns it as an EFORBIDDEN error with msg;
// extra adds to the event's details.
func (s *server) refuse(r *http.Request, c bluegreen.Caller, msg string, extra map[string]any) error {
	route := routeOf(r)
	if s.refusedLog.due(c.Token + "\x00" + route) {
		s.logger.Warn("API call refused for its role (logged once a minute per token and route; the history counts each)",
			"token", c.Token, "role", c.Role, "method", r.Method, "path", r.URL.Path)
	}
	details := map[string]any{"token": c.Token, "role": c.Role, "method": r.Method,
		"path": recordedPath(r), "remote": r.RemoteAddr}
	if c.Host != "" {
		details["host"] = c.Host
	}
	for k, v := range extra {
		details[k] = v
	}
	s.record(bluegreen.Event{Time: s.now(), Actor: actorOf(r), Action: bluegreen.ActionAccess, Outcome: bluegreen.OutcomeRefused,
		Message: msg, Details: details})
	return bluegreen.Errorf(bluegreen.EFORBIDDEN, "%s", msg)
}

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[string]int{
	bluegreen.ECONFLICT:     http.StatusConflict,
	bluegreen.EINVALID:      http.StatusBadRequest,
	bluegreen.ENOTFOUND:     http.StatusNotFound,
	bluegreen.EREFUSED:      http.StatusUnprocessableEntity,
	bluegreen.EUNAUTHORIZED: http.StatusUnauthorized,
	bluegreen.EFORBIDDEN:    http.StatusForbidden,
	bluegreen.EUNAVAILABLE:  http.StatusServiceUnavailable,
	bluegreen.ELIMITED:      http.StatusTooManyRequests,
	bluegreen.EINTERNAL:     http.StatusInternalServerError,
}

// codeOf is statusOf reversed, for the client.
var codeOf = func() map[int]string {
	m := make(map[int]string, len(statusOf))
	for code, status := range statusOf {
		m[status] = code
	}
	return m
}()

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := bluegreen.ErrorCode(err)
	if code == bluegreen.EINTERNAL {
		s.logger.Error("API call failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var body errorBody
	body.Error.Code = code
	body.Error.Message = bluegreen.ErrorMessage(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *server) status(w http.ResponseWriter, r *http.Request) error {
	st, err := s.svc.Status(r.Context())
	if err != nil {
		return err
	}
	s.withLeaderAgents(r, &st)
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *server) health(w http.ResponseWriter, r *http.Request) error {
	st, err := s.svc.Status(r.Context())
	if err != nil {
		return err
	}
	out := make(map[bluegreen.Color]bluegreen.Health, 2)
	for c, cs := range st.State.Colors {
		out[c] = cs.Health
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// switchBody is the JSON body of POST /v1/switch and /v1/rollback.
type switchBody struct {
	Color  string `json:"color"`
	Force  bool   `json:"force"`
	Reason string `json:"reason"`
}

func decodeSwitch(r *http.Request, needColor bool) (bluegreen.SwitchRequest, error) {
	var b switchBody
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil && !(errors.Is(err, io.EOF) && !needColor) {
		return bluegreen.SwitchRequest{}, bluegreen.Errorf(bluegreen.EINVALID, "bad request body: %v", err)
	}
	if err := checkReason(b.Reason); err != nil {
		return bluegreen.SwitchRequest{}, err
	}
	req := bluegreen.SwitchRequest{Force: b.Force, Reason: b.Reason, Actor: actorOf(r)}
	if needColor {
		c, err := bluegreen.ParseColor(b.Color)
		if err != nil {
			return req, err
		}
		req.To = c
	}
	return req, nil
}

func (s *server) switchColor(w http.ResponseWriter, r *http.Request) error {
	req, err := decodeSwitch(r, true)
	if err != nil {
		return err
	}
	return s.streamSwitch(w, r, req, s.svc.Switch)
}

func (s *server) rollback(w http.ResponseWriter, r *http.Request) error {
	req, err := decodeSwitch(r, false)
	if err != nil {
		return err
	}
	return s.streamSwitch(w, r, req, s.svc.Rollback)
}

func (s *server) history(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var f bluegreen.HistoryFilter
	if v := q.Get("color"); v != "" {
		c, err := bluegreen.ParseColor(v)
		if err != nil {
			return err
		}
		f.Color = c
	}
	f.Action, f.Actor, f.Outcome = bluegreen.Action(q.Get("action")), q.Get("actor"), bluegreen.Outcome(q.Get("outcome"))
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			ts, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return bluegreen.Errorf(bluegreen.EINVALID, "%s=%q: want an RFC 3339 time such as 2026-11-25T10:00:00Z", t.name, v)
			}
			*t.dst = ts
		}
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return bluegreen.Errorf(bluegreen.EINVALID, "before=%q: want a positive event id", v)
		}
		f.BeforeID = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return bluegreen.Errorf(bluegreen.EINVALID, "limit=%q: want an integer from 1 to 10000", v)
		}
		f.Limit = n
	}
	evs, err := s.svc.History(r.Context(), f)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []bluegreen.Event{}
	}
	writeJSON(w, http.StatusOK, evs)
	return nil
}

// lockBody is the answer of GET /v1/lock.
type lockBody struct {
	Locked bool            `json:"locked"`
	Lock   *bluegreen.Lock `json:"lock,omitempty"`
}

func (s *server) lock(w http.ResponseWriter, r *http.Request) error {
	l := s.svc.Lock()
	writeJSON(w, http.StatusOK, lockBody{Locked: l != nil, Lock: l})
	return nil
}

func (s *server) releaseLock(w http.ResponseWriter, r *http.Request) error {
	force := r.URL.Query().Get("force") == "true"
	if c, _ := bluegreen.CallerFrom(r.Context()); force && !c.Role.Allows(bluegreen.RoleAdmin) {
		return s.forbidden(r, c, bluegreen.RoleAdmin)
	}
	if err := s.svc.ReleaseLock(r.Context(), actorOf(r), force); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, lockBody{Locked: false})
	return nil
}

// deployLine is one line of POST /v1/deploy's NDJSON stream: progress lines,
// then one last line with the deployment and, if it failed, the error.
type deployLine struct {
	Progress   *bluegreen.Progress   `json:"progress,omitempty"`
	Deployment *bluegreen.Deployment `json:"deployment,omitempty"`
	Error      *errorDetail          `json:"error,omitempty"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// deploy streams the deployment's progress as NDJSON. Errors found before
// anything ran (bad color or ref, live color, lock held) are plain JSON
// errors with their status.
func (s *server) deploy(w http.ResponseWriter, r *http.Request) error {
	var req bluegreen.DeployRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return bluegreen.Errorf(bluegreen.EINVALID, "bad request body: %v", err)
	}
	if err := checkReason(req.Reason); err != nil {
		return err
	}
	req.Actor = actorOf(r)
	if req.Detach {
		d, err := s.svc.DeployDetached(r.Context(), req)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusAccepted, deployLine{Deployment: &d})
		return nil
	}
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	streaming := false
	start := func() {
		if !streaming {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			streaming = true
		}
	}
	d, err := s.svc.Deploy(r.Context(), req, func(p bluegreen.Progress) {
		start()
		_ = enc.Encode(deployLine{Progress: &p})
		_ = rc.Flush()
	})
	if !streaming {
		if err != nil {
			return err
		}
		start()
	}
	last := deployLine{Deployment: &d}
	if err != nil {
		last.Error = &errorDetail{Code: bluegreen.ErrorCode(err), Message: bluegreen.ErrorMessage(err)}
	}
	_ = enc.Encode(last)
	return nil
}

// DeploymentView is the answer of GET /v1/deployments/{id}: the deployment
// and its progress lines from ?from= on (Known is false when they are no
// longer kept: after a restart, or for old deployments).
type DeploymentView struct {
	Deployment bluegreen.Deployment `json:"deployment"`
	Progress   []bluegreen.Progress `json:"progress"`
	Known      bool                 `json:"progress_known"`
}

func (s *server) deployment(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	from := 0
	if v := r.URL.Query().Get("from"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return bluegreen.Errorf(bluegreen.EINVALID, "from=%q: want a non-negative integer", v)
		}
		from = n
	}
	d, err := s.svc.Deployment(r.Context(), id)
	if err != nil {
		return err
	}
	lines, known := s.svc.DeploymentLog(id, from)
	if lines == nil {
		lines = []bluegreen.Progress{}
	}
	writeJSON(w, http.StatusOK, DeploymentView{Deployment: d, Progress: lines, Known: known})
	return nil
}

func (s *server) appLog(w http.ResponseWriter, r *http.Request) error {
	c, err := bluegreen.ParseColor(r.PathValue("color"))
	if err != nil {
		return err
	}
	n := 100
	if v := r.URL.Query().Get("lines"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 100000 {
			return bluegreen.Errorf(bluegreen.EINVALID, "lines=%q: want 1 to 100000", v)
		}
	}
	var lines []string
	if host := r.URL.Query().Get("host"); host != "" {
		lines, err = s.hostLog(r.Context(), c, host, n)
	} else {
		lines, err = s.svc.AppLog(c, n)
	}
	if err != nil {
		return err
	}
	if lines == nil {
		lines = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"color": c, "lines": lines})
	return nil
}

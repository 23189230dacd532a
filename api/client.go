package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Client calls a bluegreen server's API. Errors it returns carry a bluegreen
// error code: the server's own, or EUNAVAILABLE when the server cannot be
// reached. A Client is safe for concurrent use.
type Client struct {
	// BaseURL is the API's address, e.g. "http://127.0.0.1:8082".
	BaseURL string
	// Token is sent as a bearer token.
	Token string
	// Actor is sent in the X-Bluegreen-Actor header and recorded in history.
	Actor string
	// RunURL, when set, links to the CI run making the calls (X-Bluegreen-Run);
	// it is recorded with the events the calls cause.
	RunURL string
	// HTTP is the client used; nil means one with no overall timeout (a
	// switch waits for the drain), bounded by the caller's context.
	HTTP *http.Client
	// ReadTimeout bounds a read (a GET) whose context has no deadline of
	// its own, so that a server that takes the connection and never
	// answers cannot hang a status or history call; 0 means 30s. Calls
	// that change something (a switch waits for its drain, a deploy
	// streams its progress) are bounded by their context only.
	ReadTimeout time.Duration
}

// defaultReadTimeout is ReadTimeout's default.
const defaultReadTimeout = 30 * time.Second

// NewClient returns a Client for server, which may be "host:port" or a URL.
func NewClient(server, token, actor string) *Client {
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	return &Client{BaseURL: strings.TrimRight(server, "/"), Token: token, Actor: actor}
}

// Status returns the server's status.
func (c *Client) Status(ctx context.Context) (bluegreen.Status, error) {
	var st bluegreen.Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Health returns each color's health verdict.
func (c *Client) Health(ctx context.Context) (map[bluegreen.Color]bluegreen.Health, error) {
	var h map[bluegreen.Color]bluegreen.Health
	err := c.do(ctx, http.MethodGet, "/v1/health", nil, &h)
	return h, err
}

// Color returns the live color (a route that needs no token).
func (c *Client) Color(ctx context.Context) (bluegreen.Color, error) {
	var v struct {
		Color bluegreen.Color `json:"color"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/color", nil, &v)
	return v.Color, err
}

// Switch asks the server to make req.To live and waits for the drain. With
// req.Progress set it asks for the switch's progress and calls Progress as
// each line comes (a server that does not stream just answers at the end).
// An error wrapping ErrNoAnswer means the request was sent but the
// connection ended before the answer: the switch may have been committed.
func (c *Client) Switch(ctx context.Context, req bluegreen.SwitchRequest) (bluegreen.SwitchResult, error) {
	return c.moveTraffic(ctx, "/v1/switch", switchBody{Color: string(req.To), Force: req.Force, Reason: req.Reason}, req.Progress)
}

// Rollback asks the server to switch back to the previous color, as Switch.
func (c *Client) Rollback(ctx context.Context, req bluegreen.SwitchRequest) (bluegreen.SwitchResult, error) {
	return c.moveTraffic(ctx, "/v1/rollback", switchBody{Force: req.Force, Reason: req.Reason}, req.Progress)
}

// ErrNoAnswer is in the chain of a Client error when a call that changes
// something (not a GET) was sent but the connection ended before its whole
// answer came: the server may have carried it out. Ask it (its history)
// what happened.
var ErrNoAnswer = errors.New("the connection ended before the answer")

func (c *Client) moveTraffic(ctx context.Context, path string, body switchBody, progress func(bluegreen.SwitchProgress)) (bluegreen.SwitchResult, error) {
	var res bluegreen.SwitchResult
	if progress == nil {
		err := c.do(ctx, http.MethodPost, path, body, &res)
		return res, err
	}
	resp, err := c.sendWith(ctx, http.MethodPost, path, body, NDJSON)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), NDJSON) {
		// A server from before streaming: one answer at the end.
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return res, noAnswer(ctx, http.MethodPost, path, err)
		}
		if err := json.Unmarshal(data, &res); err != nil {
			return res, fmt.Errorf("decoding the answer of POST %s: %w", path, err)
		}
		return res, nil
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var line switchLine
		if err := dec.Decode(&line); err != nil {
			return res, noAnswer(ctx, http.MethodPost, path, err)
		}
		if line.Progress != nil {
			progress(*line.Progress)
		}
		if line.Result != nil {
			res = *line.Result
			if line.Error != nil {
				return res, &bluegreen.Error{Code: line.Error.Code, Message: line.Error.Message}
			}
			return res, nil
		}
	}
}

// noAnswer is the error of a call whose answer was cut off by err.
func noAnswer(ctx context.Context, method, path string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", method, path, ctx.Err())
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", bluegreen.Errorf(bluegreen.EUNAVAILABLE, "the answer of the bluegreen server to %s %s was cut off: %v", method, path, err), ErrNoAnswer)
}

// History returns events matching f, newest first.
func (c *Client) History(ctx context.Context, f bluegreen.HistoryFilter) ([]bluegreen.Event, error) {
	q := url.Values{}
	if f.Color != "" {
		q.Set("color", string(f.Color))
	}
	if f.Action != "" {
		q.Set("action", string(f.Action))
	}
	if f.Actor != "" {
		q.Set("actor", f.Actor)
	}
	if f.Outcome != "" {
		q.Set("outcome", string(f.Outcome))
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.BeforeID > 0 {
		q.Set("before", strconv.FormatInt(f.BeforeID, 10))
	}
	path := "/v1/history"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var evs []bluegreen.Event
	err := c.do(ctx, http.MethodGet, path, nil, &evs)
	return evs, err
}

// Deploy asks the server to deploy req and calls progress (if not nil) for
// each step as the server reports it. It returns when the deployment ends;
// a failed deployment is returned with its error.
func (c *Client) Deploy(ctx context.Context, req bluegreen.DeployRequest, progress func(bluegreen.Progress)) (bluegreen.Deployment, error) {
	resp, err := c.send(ctx, http.MethodPost, "/v1/deploy", req)
	if err != nil {
		return bluegreen.Deployment{}, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var line deployLine
		if err := dec.Decode(&line); err != nil {
			return bluegreen.Deployment{}, bluegreen.Errorf(bluegreen.EUNAVAILABLE,
				"the deployment's progress stream ended early (%v); see bluegreen status and history", err)
		}
		if line.Progress != nil && progress != nil {
			progress(*line.Progress)
		}
		if line.Deployment != nil {
			if line.Error != nil {
				return *line.Deployment, &bluegreen.Error{Code: line.Error.Code, Message: line.Error.Message}
			}
			return *line.Deployment, nil
		}
	}
}

// DeployDetached starts a deployment and returns it while it runs.
func (c *Client) DeployDetached(ctx context.Context, req bluegreen.DeployRequest) (bluegreen.Deployment, error) {
	req.Detach = true
	var line deployLine
	err := c.do(ctx, http.MethodPost, "/v1/deploy", req, &line)
	if err == nil && line.Deployment == nil {
		err = bluegreen.Errorf(bluegreen.EINTERNAL, "the server did not return the deployment")
	}
	if err != nil {
		return bluegreen.Deployment{}, err
	}
	return *line.Deployment, nil
}

// Deployment returns deployment id and its progress lines from line from on.
func (c *Client) Deployment(ctx context.Context, id string, from int) (DeploymentView, error) {
	var v DeploymentView
	err := c.do(ctx, http.MethodGet, "/v1/deployments/"+url.PathEscape(id)+"?from="+strconv.Itoa(from), nil, &v)
	return v, err
}

// AppLog returns the last n lines of color's app output.
func (c *Client) AppLog(ctx context.Context, color bluegreen.Color, n int) ([]string, error) {
	var v struct {
		Lines []string `json:"lines"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/logs/"+string(color)+"?lines="+strconv.Itoa(n), nil, &v)
	return v.Lines, err
}

// HostLog returns the last n lines of the app output of host, one of
// color's hosts, as its agent last reported them: ENOTFOUND when color
// lists no such host or its agent has not reported to this server.
func (c *Client) HostLog(ctx context.Context, color bluegreen.Color, host string, n int) ([]string, error) {
	var v struct {
		Lines []string `json:"lines"`
	}
	q := url.Values{"lines": {strconv.Itoa(n)}, "host": {host}}
	err := c.do(ctx, http.MethodGet, "/v1/logs/"+string(color)+"?"+q.Encode(), nil, &v)
	return v.Lines, err
}

// Lock returns the operation lock, nil when it is free.
func (c *Client) Lock(ctx context.Context) (*bluegreen.Lock, error) {
	var b lockBody
	err := c.do(ctx, http.MethodGet, "/v1/lock", nil, &b)
	return b.Lock, err
}

// ReleaseLock frees a lock whose holder is gone, or any lock with force.
func (c *Client) ReleaseLock(ctx context.Context, force bool) error {
	path := "/v1/lock"
	if force {
		path += "?force=true"
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) (err error) {
	if _, ok := ctx.Deadline(); !ok && method == http.MethodGet {
		d := c.ReadTimeout
		if d <= 0 {
			d = defaultReadTimeout
		}
		parent := ctx
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
		defer func() {
			if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
				err = bluegreen.Errorf(bluegreen.EUNAVAILABLE, "the bluegreen server at %s did not answer %s %s within %s", c.BaseURL, method, path, d)
			}
		}()
	}
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil && method != http.MethodGet {
		return noAnswer(ctx, method, path, err)
	}
	if err != nil {
		return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "reading the answer of %s %s: %v", method, path, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decoding the answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// send makes the request and returns a 2xx response whose body the caller
// must close; any other status becomes the server's error.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	return c.sendWith(ctx, method, path, in, "")
}

// sendWith is send with an Accept header (when accept is not empty). A
// request that was sent (not a GET) and whose connection ended before the
// answer's head fails with ErrNoAnswer in the chain; one that could not
// even be sent (the server refuses connections) does not.
func (c *Client) sendWith(ctx context.Context, method, path string, in any, accept string) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	if err := checkBaseURL(c.BaseURL); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "bad server address %q: %v", c.BaseURL, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.Actor != "" {
		req.Header.Set(ActorHeader, c.Actor)
	}
	if c.RunURL != "" {
		req.Header.Set(RunHeader, c.RunURL)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var (
			op *net.OpError
			cv *tls.CertificateVerificationError
			rh tls.RecordHeaderError
		)
		notSent := errors.As(err, &op) && op.Op == "dial" || errors.As(err, &cv) || errors.As(err, &rh)
		if method != http.MethodGet && !notSent {
			// Sent, perhaps carried out: the caller must ask.
			return nil, noAnswer(ctx, method, path, err)
		}
		return nil, bluegreen.Errorf(bluegreen.EUNAVAILABLE, "cannot reach the bluegreen server at %s: %v", c.BaseURL, err)
	}
	if resp.StatusCode/100 == 2 {
		// Only the API's success counts: an app behind the router's
		// listeners may answer 200 with JSON too.
		if resp.Header.Get(APIHeader) == "" {
			resp.Body.Close()
			return nil, bluegreen.Errorf(bluegreen.EINVALID,
				"%s is not a bluegreen API: its answer to %s %s (%s) has no %s header; the server address must be the API's (api: in bluegreen.yaml), not the public or preview listener",
				c.BaseURL, method, path, resp.Status, APIHeader)
		}
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		return nil, &bluegreen.Error{Code: eb.Error.Code, Message: eb.Error.Message}
	}
	code := codeOf[resp.StatusCode]
	if code == "" {
		code = bluegreen.EINTERNAL
	}
	return nil, bluegreen.Errorf(code, "%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
}

// checkBaseURL refuses a server address that is not an http(s) URL with a
// host (and, when it names one, a numeric port).
func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return bluegreen.Errorf(bluegreen.EINVALID, "bad server address %q: %v", base, err)
	}
	bad := u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil
	if !bad && strings.Contains(u.Host, ":") && !strings.HasSuffix(u.Host, "]") {
		_, port, err := net.SplitHostPort(u.Host)
		_, perr := strconv.ParseUint(port, 10, 16)
		bad = err != nil || perr != nil
	}
	if bad {
		return bluegreen.Errorf(bluegreen.EINVALID, "bad server address %q: want host:port or an http:// or https:// URL", base)
	}
	return nil
}

var defaultHTTP = &http.Client{
	Transport: &http.Transport{
		Proxy:                 nil, // never send the token through an environment proxy
		ResponseHeaderTimeout: 0,
		TLSHandshakeTimeout:   10 * time.Second,
		IdleConnTimeout:       30 * time.Second,
	},
}

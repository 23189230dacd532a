package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// agent returns the wrapper of the routes under /v1/agent/{host}: the
// caller's token must have the agent role (any other role, admin included,
// is refused 403 by auth) and act for the path's {host}; an agent calling
// another host's route is refused 403 and the refusal recorded, naming the
// token, its host and the route.
func (s *server) agent(h handlerFunc) http.Handler {
	return s.auth(bluegreen.RoleAgent)(func(w http.ResponseWriter, r *http.Request) error {
		c, _ := bluegreen.CallerFrom(r.Context())
		if want := r.PathValue("host"); c.Host == "" || c.Host != want {
			msg := fmt.Sprintf("token %q (agent of host %s) may not %s: it acts for host %s only, not %q",
				c.Token, c.Host, routeOf(r), c.Host, want)
			return s.refuse(r, c, msg, map[string]any{"host": c.Host, "wanted_host": want})
		}
		return h(w, r)
	})
}

// hostInfo answers GET /v1/agent/{host}: what the host's agent needs to
// know about its host (bluegreen.HostInfo).
func (s *server) hostInfo(w http.ResponseWriter, r *http.Request) error {
	hi, err := s.svc.HostInfo(r.Context(), r.PathValue("host"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hi)
	return nil
}

// HostInfo returns what the server knows of host (GET /v1/agent/{host}):
// it needs an agent token acting for host (EFORBIDDEN otherwise), and
// answers ENOTFOUND when no color lists host.
func (c *Client) HostInfo(ctx context.Context, host string) (bluegreen.HostInfo, error) {
	var hi bluegreen.HostInfo
	err := c.do(ctx, http.MethodGet, "/v1/agent/"+url.PathEscape(host), nil, &hi)
	return hi, err
}

// maxReport bounds the body of an agent's report (its log lines make most
// of it).
const maxReport = 1 << 20

// MaxReportWait bounds the wait of a report (POST /v1/agent/{host}?wait=).
const MaxReportWait = time.Minute

// agentReport answers POST /v1/agent/{host}[?wait=2s]: the agent's report
// is kept and the answer is what hostInfo answers, with the order the host
// is to carry out, if any; with a wait, an answer with nothing new for the
// agent comes once an order is given or the wait is over.
func (s *server) agentReport(w http.ResponseWriter, r *http.Request) error {
	var rep bluegreen.AgentReport
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxReport))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		return bluegreen.Errorf(bluegreen.EINVALID, "bad agent report: %v", err)
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > MaxReportWait {
			return bluegreen.Errorf(bluegreen.EINVALID, "wait=%q: want a duration from 0 to %s", v, MaxReportWait)
		}
		wait = d
	}
	hi, err := s.svc.AgentReport(r.Context(), r.PathValue("host"), rep, wait)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hi)
	return nil
}

// Report tells the server what the agent of host runs and does (POST
// /v1/agent/{host}) and returns what the server knows of host, with the
// order the agent is to carry out when a deployment asks for one. With
// wait > 0 (at most MaxReportWait) the server holds an answer that has
// nothing new for the agent until an order is given or wait is over, so
// that an agent reporting every wait learns of an order at once; ctx must
// allow for it. It needs an agent token acting for host (EFORBIDDEN
// otherwise); ENOTFOUND when no color lists host.
func (c *Client) Report(ctx context.Context, host string, rep bluegreen.AgentReport, wait time.Duration) (bluegreen.HostInfo, error) {
	var hi bluegreen.HostInfo
	path := "/v1/agent/" + url.PathEscape(host)
	if wait > 0 {
		path += "?wait=" + url.QueryEscape(wait.String())
	}
	err := c.do(ctx, http.MethodPost, path, rep, &hi)
	return hi, err
}

// TarType is the Content-Type of a release archive.
const TarType = "application/x-tar"

// releaseArchive answers GET /v1/agent/{host}/release/{sha}: a tar archive
// of the tree of commit {sha}, streamed from serve's git cache as git makes
// it. Errors found before the first byte (no repository, no such host, a
// sha that is not a release of the host's color) are answered as usual;
// one after it ends the connection without the final chunk, so the client
// sees a truncated answer rather than a short archive it could take for
// whole.
func (s *server) releaseArchive(w http.ResponseWriter, r *http.Request) error {
	host, sha := r.PathValue("host"), r.PathValue("sha")
	aw := &archiveWriter{w: w, sha: sha}
	err := s.svc.ReleaseArchive(r.Context(), host, sha, aw)
	switch {
	case err != nil && aw.started:
		s.logger.Warn("release archive cut short", "host", host, "sha", sha, "err", err)
		panic(http.ErrAbortHandler)
	case err != nil:
		return err
	}
	aw.start()
	return nil
}

// archiveWriter writes the answer's head at the first byte of the archive,
// so that an error before it can still be answered with its status.
type archiveWriter struct {
	w       http.ResponseWriter
	sha     string
	started bool
}

func (a *archiveWriter) start() {
	if a.started {
		return
	}
	a.started = true
	h := a.w.Header()
	h.Set("Content-Type", TarType)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "release-"+a.sha+".tar"))
	h.Set("X-Content-Type-Options", "nosniff")
	a.w.WriteHeader(http.StatusOK)
}

func (a *archiveWriter) Write(p []byte) (int, error) {
	a.start()
	return a.w.Write(p)
}

// ReleaseArchive writes to w the tar archive of the release sha (a full
// lowercase commit SHA) for host (GET /v1/agent/{host}/release/{sha}), as
// it streams in. It needs an agent token acting for host (EFORBIDDEN
// otherwise); ENOTFOUND when serve has no repository configured, no color
// lists host, or sha is not the release of host's color. Only ctx bounds
// the download (no default read timeout: an archive may be large). An
// answer cut short is an EUNAVAILABLE error after part of the archive was
// written to w: the caller must discard what it wrote.
func (c *Client) ReleaseArchive(ctx context.Context, host, sha string, w io.Writer) error {
	path := "/v1/agent/" + url.PathEscape(host) + "/release/" + url.PathEscape(sha)
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != TarType {
		return fmt.Errorf("GET %s: answered %q, want %s", path, ct, TarType)
	}
	body := &readErr{r: resp.Body}
	if _, err := io.Copy(w, body); err != nil {
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case body.err != nil:
			return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "reading the archive of %s for host %s: %v", sha, host, err)
		}
		return fmt.Errorf("writing the archive of %s: %w", sha, err)
	}
	return nil
}

// readErr remembers the error of its reader other than io.EOF, to tell it
// from the writer's in an io.Copy.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// hostLog is GET /v1/logs/{color}?host=: the last n lines of host's app
// output, when host is one of c's hosts.
func (s *server) hostLog(ctx context.Context, c bluegreen.Color, host string, n int) ([]string, error) {
	hi, err := s.svc.HostInfo(ctx, host)
	if err != nil {
		return nil, err
	}
	if hi.Color != c {
		return nil, bluegreen.Errorf(bluegreen.ENOTFOUND, "%s has no host %q (it is one of %s's hosts)", c, host, hi.Color)
	}
	return s.svc.HostLog(ctx, host, n)
}

// leaderAgentsTimeout bounds a follower's wait for the leader's view of
// the agents; past it, its status goes without them.
const leaderAgentsTimeout = time.Second

// withLeaderAgents fills in, on a follower, each host's agent as the leader
// knows it: agents' reports live in the leading instance's memory (a
// follower passes them on). It asks the leader for its status with the
// caller's own token; when the leader cannot say within
// leaderAgentsTimeout, st keeps what this instance knows (no agents).
func (s *server) withLeaderAgents(r *http.Request, st *bluegreen.Status) {
	if s.leader == nil || r.Header.Get(ForwardedHeader) != "" {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), leaderAgentsTimeout)
	defer cancel()
	leaderURL, selfID, self, err := s.leader(ctx)
	if err != nil || self {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(leaderURL, "/")+"/v1/status", nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	req.Header.Set(ForwardedHeader, selfID)
	rt := s.leaderTransport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var ls bluegreen.Status
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&ls) != nil {
		return
	}
	seen := map[string]*bluegreen.AgentSeen{}
	for _, cs := range ls.State.Colors {
		for _, h := range cs.Health.Hosts {
			if h.Agent != nil {
				seen[h.Name] = h.Agent
			}
		}
	}
	st.State.Colors = maps.Clone(st.State.Colors) // the service's may be shared
	for col, cs := range st.State.Colors {
		cs.Health.Hosts = slices.Clone(cs.Health.Hosts)
		for i, h := range cs.Health.Hosts {
			if a := seen[h.Name]; a != nil && h.Name != "" {
				cs.Health.Hosts[i].Agent = a
			}
		}
		st.State.Colors[col] = cs
	}
}

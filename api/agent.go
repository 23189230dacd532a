package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

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

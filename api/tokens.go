package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// RunHeader carries a link to the CI run making the call; it is recorded
// with the events the call causes.
const RunHeader = "X-Bluegreen-Run"

// runURLOf returns the run link of r when it is an http(s) URL, else "".
func runURLOf(r *http.Request) string {
	v := strings.TrimSpace(r.Header.Get(RunHeader))
	if v == "" || len(v) > 500 {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return v
}

// TokenRequest asks for a new named token.
type TokenRequest struct {
	Name string         `json:"name"`
	Role bluegreen.Role `json:"role"`
	// Host is the host an agent token acts for: required for role agent,
	// refused for the others (bluegreen.CheckTokenHost).
	Host string `json:"host,omitempty"`
}

// NewToken is the answer of POST /v1/tokens: the token and its secret,
// which is shown this once and never stored.
type NewToken struct {
	Token  bluegreen.Token `json:"token"`
	Secret string          `json:"secret"`
}

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func (s *server) createToken(w http.ResponseWriter, r *http.Request) error {
	if s.tokens == nil {
		return bluegreen.Errorf(bluegreen.EINVALID, "this server keeps no named tokens")
	}
	var req TokenRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if !tokenName.MatchString(req.Name) || req.Name == AdminTokenName {
		return bluegreen.Errorf(bluegreen.EINVALID, "token name %q: want 1 to 64 letters, digits, '.', '_' or '-', not %q",
			req.Name, AdminTokenName)
	}
	if _, err := bluegreen.ParseRole(string(req.Role)); err != nil {
		return err
	}
	if err := bluegreen.CheckTokenHost(req.Role, req.Host); err != nil {
		return err
	}
	secret, err := newSecret()
	if err != nil {
		return err
	}
	c, _ := bluegreen.CallerFrom(r.Context())
	t := bluegreen.Token{Name: req.Name, Role: req.Role, Host: req.Host, By: actorOf(r) + " (token " + c.Token + ")", At: s.now().UTC()}
	if err := s.tokens.CreateToken(r.Context(), t, sha256.Sum256([]byte(secret))); err != nil {
		return err
	}
	msg := fmt.Sprintf("token %q created with role %s", t.Name, t.Role)
	details := map[string]any{"token": t.Name, "role": t.Role, "by_token": c.Token}
	if t.Host != "" {
		msg += " for host " + t.Host
		details["host"] = t.Host
	}
	s.record(bluegreen.Event{Time: s.now(), Actor: actorOf(r), Action: bluegreen.ActionToken, Outcome: bluegreen.OutcomeOK,
		Message: msg, Details: details})
	writeJSON(w, http.StatusCreated, NewToken{Token: t, Secret: secret})
	return nil
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request) error {
	if s.tokens == nil {
		writeJSON(w, http.StatusOK, []bluegreen.Token{})
		return nil
	}
	ts, err := s.tokens.Tokens(r.Context())
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []bluegreen.Token{}
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if s.tokens == nil {
		return bluegreen.Errorf(bluegreen.ENOTFOUND, "no token named %q", r.PathValue("name"))
	}
	t, err := s.tokens.RevokeToken(r.Context(), r.PathValue("name"), s.now())
	if err != nil {
		return err
	}
	s.record(bluegreen.Event{Time: s.now(), Actor: actorOf(r), Action: bluegreen.ActionToken, Outcome: bluegreen.OutcomeOK,
		Message: fmt.Sprintf("token %q (%s) revoked", t.Name, t.Role), Details: map[string]any{"token": t.Name, "role": t.Role}})
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *server) whoami(w http.ResponseWriter, r *http.Request) error {
	c, _ := bluegreen.CallerFrom(r.Context())
	writeJSON(w, http.StatusOK, c)
	return nil
}

// newSecret returns a random token secret: "bg_" and 32 random bytes.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making a token: %w", err)
	}
	return "bg_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateToken asks for a new named token; the secret in the answer is
// shown once. req.Host names the host of an agent token (EINVALID when
// missing for role agent, or given for another role).
func (c *Client) CreateToken(ctx context.Context, req TokenRequest) (NewToken, error) {
	var nt NewToken
	err := c.do(ctx, http.MethodPost, "/v1/tokens", req, &nt)
	return nt, err
}

// Tokens lists the named tokens, revoked ones included.
func (c *Client) Tokens(ctx context.Context) ([]bluegreen.Token, error) {
	var ts []bluegreen.Token
	err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, &ts)
	return ts, err
}

// RevokeToken revokes the token named name.
func (c *Client) RevokeToken(ctx context.Context, name string) (bluegreen.Token, error) {
	var t bluegreen.Token
	err := c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(name), nil, &t)
	return t, err
}

// WhoAmI returns the caller as the server sees the client's token.
func (c *Client) WhoAmI(ctx context.Context) (bluegreen.Caller, error) {
	var who bluegreen.Caller
	err := c.do(ctx, http.MethodGet, "/v1/whoami", nil, &who)
	return who, err
}

package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/bluegreen/bluegreen"
)

// verifyLine is one line of POST /v1/verify's NDJSON stream: a line per
// check as it ends, then one last line with the verification (or an error).
type verifyLine struct {
	Check        *bluegreen.CheckResult  `json:"check,omitempty"`
	Verification *bluegreen.Verification `json:"verification,omitempty"`
	Error        *errorDetail            `json:"error,omitempty"`
}

// verify streams the checks of a color as NDJSON. A failed check is not an
// error: the last line's verification says passed false and why.
func (s *server) verify(w http.ResponseWriter, r *http.Request) error {
	var req bluegreen.VerifyRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if !req.Color.Valid() {
		return bluegreen.Errorf(bluegreen.EINVALID, "unknown color %q: want blue or green", req.Color)
	}
	if err := checkReason(req.Reason); err != nil {
		return err
	}
	req.Actor = actorOf(r)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	v, err := s.svc.Verify(r.Context(), req, func(c bluegreen.CheckResult) {
		_ = enc.Encode(verifyLine{Check: &c})
		_ = rc.Flush()
	})
	last := verifyLine{Verification: &v}
	if err != nil {
		last.Error = &errorDetail{Code: bluegreen.ErrorCode(err), Message: bluegreen.ErrorMessage(err)}
	}
	_ = enc.Encode(last)
	return nil
}

func (s *server) approve(w http.ResponseWriter, r *http.Request) error {
	var req bluegreen.ApproveRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if err := checkReason(req.Reason); err != nil {
		return err
	}
	req.Actor = actorOf(r)
	a, err := s.svc.Approve(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// decodeBody decodes a small JSON request body strictly.
func decodeBody(r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bluegreen.Errorf(bluegreen.EINVALID, "bad request body: %v", err)
	}
	return nil
}

// Verify asks the server to verify req.Color, calling onCheck (if not nil)
// as each check ends. A verification whose checks failed is returned with
// a nil error; Passed says how it went.
func (c *Client) Verify(ctx context.Context, req bluegreen.VerifyRequest, onCheck func(bluegreen.CheckResult)) (bluegreen.Verification, error) {
	resp, err := c.send(ctx, http.MethodPost, "/v1/verify", req)
	if err != nil {
		return bluegreen.Verification{}, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var line verifyLine
		if err := dec.Decode(&line); err != nil {
			return bluegreen.Verification{}, bluegreen.Errorf(bluegreen.EUNAVAILABLE,
				"the verification's stream ended early (%v); see bluegreen history", err)
		}
		if line.Check != nil && onCheck != nil {
			onCheck(*line.Check)
		}
		if line.Verification != nil {
			if line.Error != nil {
				return *line.Verification, &bluegreen.Error{Code: line.Error.Code, Message: line.Error.Message}
			}
			return *line.Verification, nil
		}
	}
}

// Approve records the caller's approval of req.Color's current release.
func (c *Client) Approve(ctx context.Context, req bluegreen.ApproveRequest) (bluegreen.Approval, error) {
	var a bluegreen.Approval
	err := c.do(ctx, http.MethodPost, "/v1/approve", req, &a)
	return a, err
}

// Metrics returns the Prometheus text exposition of GET /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.send(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return string(b), err
}

// DNSPrepareRequest asks to lower the DNS record's TTL.
type DNSPrepareRequest struct {
	TTLSeconds float64 `json:"ttl_seconds"`
}

func (s *server) dnsPrepare(w http.ResponseWriter, r *http.Request) error {
	var req DNSPrepareRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.TTLSeconds < 1 {
		return bluegreen.Errorf(bluegreen.EINVALID, "ttl_seconds %g: want at least 1", req.TTLSeconds)
	}
	rep, err := s.svc.DNSPrepare(r.Context(), time.Duration(req.TTLSeconds*float64(time.Second)), actorOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// DNSPrepare lowers the DNS record's TTL to ttl ahead of a planned switch.
func (c *Client) DNSPrepare(ctx context.Context, ttl time.Duration) (bluegreen.DNSPrepareReport, error) {
	var rep bluegreen.DNSPrepareReport
	err := c.do(ctx, http.MethodPost, "/v1/dns/prepare", DNSPrepareRequest{TTLSeconds: ttl.Seconds()}, &rep)
	return rep, err
}

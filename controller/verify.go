package controller

import (
	"context"
	"fmt"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// Verifier runs a color's configured verification checks.
type Verifier interface {
	// RunChecks runs color's checks in order, calling onResult (which may
	// be nil) after each, and returns the results and the base URL the HTTP
	// checks went to: the public listener when live is true (what users
	// get), the preview listener otherwise (what will serve after a
	// switch). Command checks run in dir, the color's release directory
	// ("" when it has none).
	RunChecks(ctx context.Context, color bluegreen.Color, live bool, dir string, onResult func(bluegreen.CheckResult)) (results []bluegreen.CheckResult, url string)
}

// GateConfig says what a color must have passed before traffic moves to it.
type GateConfig struct {
	// VerifyOnDeploy runs the checks at the end of every deploy.
	VerifyOnDeploy bool
	// AutoPromote switches to a color after a deploy whose verification
	// passed.
	AutoPromote bool
	// RequireApproval makes a switch need an approval of the release.
	RequireApproval bool
}

// Verify runs the health check and the configured checks of req.Color
// against the release it runs now, stores the result against that release
// (so that a switch can require it) and records it in the history. A
// failing check is not an error: the returned Verification says Passed
// false and why. It fails with ECONFLICT when the color's release changed
// while the checks ran (the result would describe another release); a
// refusal is recorded.
func (c *Controller) Verify(ctx context.Context, req bluegreen.VerifyRequest, onResult func(bluegreen.CheckResult)) (bluegreen.Verification, error) {
	if !req.Color.Valid() {
		return bluegreen.Verification{}, c.refuse(ctx, bluegreen.ActionVerify, "", req.Actor, "verification",
			bluegreen.Errorf(bluegreen.EINVALID, "unknown color %.20q: want blue or green", req.Color))
	}
	// Like a deploy, a verification runs to its end and is recorded even if
	// the caller goes away.
	ctx = context.WithoutCancel(ctx)
	st := c.State()
	v := c.runVerification(ctx, st, req.Color, req.Actor, onResult)
	if err := c.saveVerification(ctx, v, req.Reason, nil); err != nil {
		return v, c.refuse(ctx, bluegreen.ActionVerify, req.Color, req.Actor, "verification of "+string(req.Color), err)
	}
	return v, nil
}

// runVerification runs color's checks as the state st describes it and
// returns the verdict, not stored.
func (c *Controller) runVerification(ctx context.Context, st bluegreen.State, color bluegreen.Color, actor string, onResult func(bluegreen.CheckResult)) bluegreen.Verification {
	cs := st.Colors[color]
	v := bluegreen.Verification{Color: color, By: actorOr(actor)}
	dir := ""
	if cs.Release != nil {
		v.Deployment, v.SHA, dir = cs.Release.Deployment, cs.Release.SHA, cs.Release.Dir
	}
	if len(c.deployCfg.hostsOf(color)) > 0 {
		// No release directory on serve's machine: command checks run
		// where the switch hooks do, the configuration's directory.
		dir = c.deployCfg.HookDir
	}
	start := c.now()
	_, herr := c.health.Verify(ctx, color)
	hr := bluegreen.CheckResult{Name: "health", Kind: "health", OK: herr == nil, Attempts: 1,
		DurationMS: bluegreen.Milliseconds(c.now().Sub(start))}
	if herr != nil {
		hr.Error = herr.Error()
	}
	if onResult != nil {
		onResult(hr)
	}
	v.Checks = []bluegreen.CheckResult{hr}
	if c.verifier != nil {
		res, url := c.verifier.RunChecks(ctx, color, st.Live == color, dir, onResult)
		v.Checks, v.URL = append(v.Checks, res...), url
	}
	v.Passed = true
	var failed []string
	for _, r := range v.Checks {
		if !r.OK {
			v.Passed = false
			failed = append(failed, fmt.Sprintf("%s (%s)", r.Name, r.Error))
		}
	}
	if !v.Passed {
		v.Reason = fmt.Sprintf("%d of %d checks failed: %s", len(failed), len(v.Checks), strings.Join(failed, "; "))
	}
	v.At = c.now().UTC()
	return v
}

// saveVerification stores v as its color's verification with an event. With
// rel (a deploy that just started it), rel becomes the color's release in
// the same commit; without, the color must still run the release v verified.
func (c *Controller) saveVerification(ctx context.Context, v bluegreen.Verification, reason string, rel *bluegreen.Release) error {
	ev, err := c.commitVerification(ctx, v, reason, rel)
	if err != nil {
		return err
	}
	c.count(func(k *Counters) {
		if v.Passed {
			k.VerificationsPassed++
		} else {
			k.VerificationsFailed++
		}
	})
	c.notify(ev)
	return nil
}

func (c *Controller) commitVerification(ctx context.Context, v bluegreen.Verification, reason string, rel *bluegreen.Release) (bluegreen.Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.state.Colors[v.Color]
	if rel != nil {
		cs.Release = rel
	}
	now := ""
	if cs.Release != nil {
		now = cs.Release.Deployment
	}
	if now != v.Deployment {
		return bluegreen.Event{}, bluegreen.Errorf(bluegreen.ECONFLICT,
			"%s's release changed while its checks ran (deployment %q, now %q): verify again", v.Color, v.Deployment, now)
	}
	next := c.state.Clone()
	cs.Verification = &v
	next.Colors[v.Color] = cs
	ev := bluegreen.Event{Time: c.now(), Actor: v.By, Action: bluegreen.ActionVerify, Color: v.Color,
		Outcome: bluegreen.OutcomeOK, Details: map[string]any{"verification": v}}
	what := "the release it runs"
	if v.SHA != "" {
		what = short12(v.SHA)
	}
	if v.Passed {
		ev.Message = fmt.Sprintf("%s (%s) passed verification: %d checks", v.Color, what, len(v.Checks))
	} else {
		ev.Outcome = bluegreen.OutcomeFailed
		ev.Message = fmt.Sprintf("%s (%s) failed verification: %s", v.Color, what, v.Reason)
	}
	if reason != "" {
		ev.Details["reason"] = reason
	}
	committed, recorded, err := c.commitEvent(ctx, next, ev)
	if err != nil {
		return bluegreen.Event{}, fmt.Errorf("recording the verification: %w", err)
	}
	c.state = committed
	return recorded, nil
}

// Approve records that req.Actor approved the release req.Color runs now
// (after manual QA). It fails with EREFUSED when the color runs no release
// deployed by bluegreen; the refusal is recorded.
func (c *Controller) Approve(ctx context.Context, req bluegreen.ApproveRequest) (bluegreen.Approval, error) {
	if !req.Color.Valid() {
		return bluegreen.Approval{}, c.refuse(ctx, bluegreen.ActionApprove, "", req.Actor, "approval",
			bluegreen.Errorf(bluegreen.EINVALID, "unknown color %.20q: want blue or green", req.Color))
	}
	c.mu.Lock()
	cs := c.state.Colors[req.Color]
	if cs.Release == nil {
		c.mu.Unlock()
		return bluegreen.Approval{}, c.refuse(ctx, bluegreen.ActionApprove, req.Color, req.Actor, "approval of "+string(req.Color),
			bluegreen.Errorf(bluegreen.EREFUSED, "%s runs no release deployed by bluegreen: there is nothing to approve", req.Color))
	}
	defer c.mu.Unlock()
	a := bluegreen.Approval{Color: req.Color, Deployment: cs.Release.Deployment, SHA: cs.Release.SHA,
		By: actorOr(req.Actor), At: c.now().UTC(), Reason: req.Reason}
	next := c.state.Clone()
	cs.Approval = &a
	next.Colors[req.Color] = cs
	msg := fmt.Sprintf("%s approved %s (%s)", a.By, req.Color, short12(a.SHA))
	if !cs.Verified() {
		msg += "; note: this release has not passed verification yet"
	}
	ev := bluegreen.Event{Time: c.now(), Actor: a.By, Action: bluegreen.ActionApprove, Color: req.Color,
		Outcome: bluegreen.OutcomeOK, Message: msg, Details: map[string]any{"approval": a}}
	committed, err := c.store.Commit(ctx, next, ev)
	if err != nil {
		return a, fmt.Errorf("recording the approval: %w", err)
	}
	c.state = committed
	return a, nil
}

func actorOr(actor string) string {
	if actor == "" {
		return "unknown"
	}
	return actor
}

package controller

import (
	"context"
	"fmt"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// The migration gate. Both colors share one database, and the new
// release's build steps may change it (migrate). The live color's own
// checks run before and after the build steps; a check that passed before
// and fails after was broken by this release, and its verification fails
// with that explanation, so that the switch is refused.

// liveBaseline runs the live color's checks before the build steps when
// there are build steps and a live color other than the deployed one runs;
// it returns nil when the gate does not apply.
func (r *deployRun) liveBaseline(ctx context.Context, hasBuild bool) []bluegreen.CheckResult {
	st := r.c.State()
	if !hasBuild || r.bootstrap || st.Live == r.d.Color {
		return nil
	}
	r.say(bluegreen.StepLiveChecks, fmt.Sprintf("checking the live color %s before the build steps (the migration gate)", st.Live))
	r.begin(ctx, bluegreen.StepLiveChecks, "")
	v := r.c.runVerification(ctx, st, st.Live, r.d.Actor, nil)
	var passed []bluegreen.CheckResult
	for _, res := range v.Checks {
		if res.OK {
			passed = append(passed, res)
		} else {
			r.say(bluegreen.StepLiveChecks, fmt.Sprintf("%s: %s already fails before the build (%s): not held against this release", st.Live, res.Name, res.Error))
		}
	}
	if len(passed) == 0 {
		return nil
	}
	return passed
}

// liveAfterBuild re-runs the live color's checks after the build steps and
// keeps those of baseline that fail now.
func (r *deployRun) liveAfterBuild(ctx context.Context, baseline []bluegreen.CheckResult) {
	st := r.c.State()
	live := st.Live
	r.say(bluegreen.StepLiveChecks, fmt.Sprintf("checking the live color %s again after the build steps", live))
	r.begin(ctx, bluegreen.StepLiveChecks, "")
	v := r.c.runVerification(ctx, st, live, r.d.Actor, nil)
	before := map[string]bool{}
	for _, b := range baseline {
		before[b.Name] = true
	}
	for _, res := range v.Checks {
		if !res.OK && before[res.Name] {
			r.liveBroken = append(r.liveBroken, res)
			r.say(bluegreen.StepLiveChecks, fmt.Sprintf("%s: %s passed before the build and fails now: %s", live, res.Name, res.Error))
		}
	}
	if r.liveBroken == nil {
		r.say(bluegreen.StepLiveChecks, fmt.Sprintf("%s still passes its %d checks", live, len(baseline)))
	}
}

// verify runs the deployed color's checks against rel, stores the result
// and fails the deployment (leaving the app running, for inspection through
// the preview listener) when they, or the migration gate, failed.
func (r *deployRun) verify(ctx context.Context, rel *bluegreen.Release) error {
	c := r.c
	r.say(bluegreen.StepVerify, fmt.Sprintf("running %s's checks", r.d.Color))
	st := c.State()
	cs := st.Colors[r.d.Color]
	cs.Release = rel // the state gets it with the verification, below
	st.Colors[r.d.Color] = cs
	var v bluegreen.Verification
	_, err := r.step(ctx, bluegreen.StepVerify, "", func() (int, error) {
		v = c.runVerification(ctx, st, r.d.Color, r.d.Actor, func(res bluegreen.CheckResult) {
			if res.OK {
				r.say(bluegreen.StepVerify, fmt.Sprintf("ok   %s (%.0f ms)", res.Name, res.DurationMS))
				return
			}
			r.say(bluegreen.StepVerify, fmt.Sprintf("FAIL %s (%.0f ms): %s", res.Name, res.DurationMS, res.Error))
			for _, l := range firstLines(res.Output, 5) {
				r.say(bluegreen.StepVerify, "     | "+l)
			}
		})
		if r.liveBroken != nil {
			v.LiveChecks = r.liveBroken
			var names []string
			for _, b := range r.liveBroken {
				names = append(names, fmt.Sprintf("%s (%s)", b.Name, b.Error))
			}
			migration := fmt.Sprintf("this release's build steps broke the live color %s: its check %s passed before the build and fails after it (a database migration that is not backward compatible?)",
				st.Live, strings.Join(names, ", "))
			if v.Passed {
				v.Reason = migration
			} else {
				v.Reason = migration + "; also " + v.Reason
			}
			v.Passed = false
		}
		if !v.Passed {
			return 1, fmt.Errorf("%s", v.Reason)
		}
		return 0, nil
	})
	r.d.Verification = &v
	// The release and its verification land in one commit.
	if serr := c.saveVerification(ctx, v, "", rel); serr != nil {
		return r.fail(ctx, bluegreen.StepVerify, serr, nil)
	}
	if err != nil {
		c.transition(r.d.Fail(bluegreen.StepVerify, err, nil, c.now()))
		r.say(bluegreen.StepVerify, "failed: "+err.Error())
		r.say(bluegreen.StepVerify, fmt.Sprintf("%s keeps running for inspection (preview listener); traffic was not switched", r.d.Color))
		msg := fmt.Sprintf("deployed %s (%s) into %s, but verification failed: %v", r.d.Ref, short12(rel.SHA), r.d.Color, err)
		if serr := r.save(ctx, bluegreen.Event{Outcome: bluegreen.OutcomeFailed, Message: msg,
			Details: map[string]any{"step": "verify"}}, rel); serr != nil {
			c.logger.Error("recording a failed verification", "err", serr)
		}
		return bluegreen.Errorf(bluegreen.EREFUSED, "%s", msg)
	}
	r.say(bluegreen.StepVerify, fmt.Sprintf("%s passed its %d checks", r.d.Color, len(v.Checks)))
	return nil
}

func firstLines(lines []string, n int) []string {
	if len(lines) > n {
		return lines[:n]
	}
	return lines
}

package ghactions

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// releaseOutputs adds deployment_id and sha of a color's release.
func releaseOutputs(r *Report, rel *bluegreen.Release) {
	if rel == nil {
		return
	}
	r.Set("deployment_id", "deployment", rel.Deployment)
	r.Set("sha", "release", rel.SHA)
}

// DeployReport is the report of deploy and sync: req is what was asked, d
// the deployment as far as it is known (zero when it did not start), st
// the status after the verb (nil when it could not be read).
func DeployReport(req bluegreen.DeployRequest, d bluegreen.Deployment, st *bluegreen.Status) *Report {
	target := d.Color
	if target == "" {
		target = req.Color
	}
	if target == "" && st != nil {
		target = st.State.Inactive() // a sync that did not start
	}
	r := &Report{Title: "deploy " + string(target)}
	if req.Sync {
		r.Title = "sync"
	}
	r.Set("target", "deployed into", string(target))
	r.Set("deployment_id", "deployment", d.ID)
	if d.ID == "" && st != nil && target != "" {
		// A timeout: the deployment is running, the status knows its id.
		if cd := st.State.Colors[target].Deployment; cd != nil && cd.Status == bluegreen.DeploymentRunning {
			r.Set("deployment_id", "deployment", cd.ID)
		}
	}
	r.Set("ref", "ref", d.Ref)
	r.Set("sha", "sha", d.SHA)
	if v := d.Verification; v != nil {
		r.Set("verified", "verified", boolText(v.Passed))
		checkNotes(r, *v)
	}
	if d.ID != "" && d.Status != bluegreen.DeploymentRunning {
		r.Set("promoted", "", boolText(d.Promoted))
	}
	if d.Status == bluegreen.DeploymentRunning && d.ID != "" {
		r.Result = fmt.Sprintf("deployment %s started (--detach): follow it with bluegreen deployments show %s --follow", d.ID, d.ID)
	}
	if d.Status == bluegreen.DeploymentSucceeded {
		r.Result = fmt.Sprintf("deployed %s (%s) into %s in %s", d.Ref, short(d.SHA), d.Color,
			d.Ended.Sub(d.Started).Round(time.Millisecond))
		if d.Promoted {
			r.Result += "; promotion: auto made it live"
		}
	}
	return r
}

// VerifyReport is the report of verify: color is the color verified, v its
// verification when ran (the checks ran), else the zero value.
func VerifyReport(color bluegreen.Color, v bluegreen.Verification, ran bool) *Report {
	r := &Report{Title: "verify " + string(color)}
	r.Set("target", "color verified", string(color))
	if !ran {
		return r
	}
	r.Set("deployment_id", "deployment", v.Deployment)
	r.Set("sha", "release", v.SHA)
	r.Set("verified", "passed", boolText(v.Passed))
	passed := 0
	for _, c := range v.Checks {
		if c.OK {
			passed++
		}
	}
	r.Rows = append(r.Rows, [2]string{"checks", fmt.Sprintf("%d of %d passed", passed, len(v.Checks))})
	checkNotes(r, v)
	if v.Passed {
		r.Result = fmt.Sprintf("%s passed verification (%d checks)", color, len(v.Checks))
	}
	return r
}

// checkNotes lists the failed checks of v under the summary.
func checkNotes(r *Report, v bluegreen.Verification) {
	for _, c := range append(append([]bluegreen.CheckResult(nil), v.Checks...), v.LiveChecks...) {
		if !c.OK {
			r.Notes = append(r.Notes, fmt.Sprintf("- check `%s` failed: %s", strings.ReplaceAll(c.Name, "`", "'"), mdText(c.Error)))
		}
	}
	if !v.Passed && v.Reason != "" && len(r.Notes) == 0 {
		r.Notes = append(r.Notes, "- "+mdText(v.Reason))
	}
}

// SwitchReport is the report of switch and rollback (verb): req is what was
// asked, res the result (zero when the switch did not happen), st the
// status after the verb (nil when it could not be read).
func SwitchReport(verb string, req bluegreen.SwitchRequest, res bluegreen.SwitchResult, st *bluegreen.Status) *Report {
	r := &Report{Title: verb}
	if req.To != "" {
		r.Title += " " + string(req.To)
	}
	target := res.To
	if target == "" {
		target = req.To
	}
	if target == "" && st != nil && verb == "rollback" {
		target = st.State.Previous // a refused rollback
	}
	r.Set("target", "", string(target))
	if res.To == "" {
		return r
	}
	r.Set("from", "from", string(res.From))
	r.Set("to", "to", string(res.To))
	if res.Changed {
		r.Set("switch_ms", "switch (ms)", strconv.FormatFloat(res.SwitchMS, 'f', 2, 64))
		r.Rows = append(r.Rows, [2]string{"drain", fmt.Sprintf("%d in flight, %d finished, %d cut",
			res.Drain.InFlight, res.Drain.Finished, res.Drain.Cancelled)})
	}
	r.Set("forced", "", boolText(res.Forced))
	for _, gate := range res.ForcedGates {
		r.Notes = append(r.Notes, "- forced past: "+mdText(gate))
	}
	if st != nil {
		releaseOutputs(r, st.State.Colors[res.To].Release)
	}
	r.Result = res.Message
	return r
}

// StatusReport is the report of status. gates says where a color stands
// with its gates, as the CLI's status prints it.
func StatusReport(st bluegreen.Status, gates func(bluegreen.ColorState) string) *Report {
	s := st.State
	r := &Report{Title: "status"}
	r.Set("previous", "previous", string(s.Previous))
	r.Set("inactive", "inactive (next deploy)", string(s.Inactive()))
	releaseOutputs(r, s.Colors[s.Live].Release)
	for _, c := range bluegreen.Colors {
		cs := s.Colors[c]
		rel := "-"
		if cs.Release != nil {
			rel = short(cs.Release.SHA) + " " + cs.Release.Ref
		}
		r.Rows = append(r.Rows, [2]string{string(c), fmt.Sprintf("%s; %s; %s", cs.Health.Status, rel, gates(cs))})
	}
	r.Result = fmt.Sprintf("%s is live since %s", s.Live, s.Since.UTC().Format(time.RFC3339))
	return r
}

package controller_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
)

// TestFastVerificationGatesTheSwitch: a release whose verification failed
// cannot take traffic; the refusal is recorded with the unmet gate; once it
// passes, the switch goes through. A verification is stored against the
// release it checked, and recorded.
func TestFastVerificationGatesTheSwitch(t *testing.T) {
	f := newFast(t, nil)
	ctx := t.Context()
	d, err := f.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v2", Actor: "ada"}, nil)
	if err != nil {
		t.Fatal(err)
	}

	_, err = f.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"})
	if bluegreen.ErrorCode(err) != bluegreen.EREFUSED || !strings.Contains(err.Error(), "has not been verified") {
		t.Fatalf("switch before verification: %v; want refused: not verified", err)
	}

	f.verifier.fail(bluegreen.Green, true)
	var seen []string
	v, err := f.ctl.Verify(ctx, bluegreen.VerifyRequest{Color: bluegreen.Green, Actor: "qa", Reason: "nightly"},
		func(r bluegreen.CheckResult) { seen = append(seen, r.Name) })
	if err != nil {
		t.Fatal(err)
	}
	if v.Passed || v.Deployment != d.ID || v.SHA != "sha-v2" || v.By != "qa" || v.URL != "http://preview.test" ||
		v.Reason != "1 of 2 checks failed: home (status 500, want 200)" || !slices.Equal(seen, []string{"health", "home"}) {
		t.Errorf("verification %+v, results heard %v; want home failed against %s", v, seen, d.ID)
	}
	if got := f.ctl.State().Colors[bluegreen.Green].Verification; got == nil || got.Passed || got.Deployment != d.ID {
		t.Errorf("stored verification %+v; want the failed one", got)
	}
	_, err = f.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"})
	if bluegreen.ErrorCode(err) != bluegreen.EREFUSED || !strings.Contains(err.Error(), "failed verification: 1 of 2 checks failed") {
		t.Fatalf("switch after a failed verification: %v; want refused", err)
	}
	if f.ctl.Live() != bluegreen.Blue || f.router.serving() != bluegreen.Blue {
		t.Fatal("a refused switch moved traffic")
	}

	f.verifier.fail(bluegreen.Green, false)
	if v, err := f.ctl.Verify(ctx, bluegreen.VerifyRequest{Color: bluegreen.Green, Actor: "qa"}, nil); err != nil || !v.Passed {
		t.Fatalf("second verification %+v, %v; want passed", v, err)
	}
	res, err := f.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"})
	if err != nil || !res.Changed || res.Forced || res.From != bluegreen.Blue || f.router.serving() != bluegreen.Green {
		t.Fatalf("switch after a passed verification: %+v, %v", res, err)
	}

	verifies := f.events(bluegreen.ActionVerify)
	want := []string{"failed: green (sha-v2) failed verification: 1 of 2 checks failed: home (status 500, want 200)",
		"ok: green (sha-v2) passed verification: 2 checks"}
	if !slices.Equal(verifies, want) {
		t.Errorf("verify events %q; want %q", verifies, want)
	}
	switches := f.events(bluegreen.ActionSwitch)
	if len(switches) != 3 || !strings.HasPrefix(switches[0], "refused: switch refused: green's release sha-v2 has not been verified") ||
		!strings.HasPrefix(switches[1], "refused: switch refused: green's release sha-v2 failed verification") ||
		switches[2] != "ok: switched traffic from blue to green" {
		t.Errorf("switch events:\n%s", strings.Join(switches, "\n"))
	}
	if k := f.ctl.Counters(); k.VerificationsFailed != 1 || k.VerificationsPassed != 1 || k.Switches != 1 {
		t.Errorf("counters %+v", k)
	}
}

// TestFastVerifyRefusesAStaleResult: a verification whose color got
// another release while its checks ran is refused (ECONFLICT), recorded,
// and not stored.
func TestFastVerifyRefusesAStaleResult(t *testing.T) {
	f := newFast(t, nil)
	ctx := t.Context()
	if _, err := f.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v2", Actor: "ada"}, nil); err != nil {
		t.Fatal(err)
	}
	redeployed := false
	_, err := f.ctl.Verify(ctx, bluegreen.VerifyRequest{Color: bluegreen.Green, Actor: "qa"}, func(r bluegreen.CheckResult) {
		if r.Name == "home" && !redeployed {
			redeployed = true
			if _, err := f.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v3", Actor: "ada"}, nil); err != nil {
				t.Error(err)
			}
		}
	})
	if bluegreen.ErrorCode(err) != bluegreen.ECONFLICT || !strings.Contains(err.Error(), "release changed while its checks ran") {
		t.Fatalf("err %v; want a conflict", err)
	}
	if v := f.ctl.State().Colors[bluegreen.Green].Verification; v != nil {
		t.Errorf("a stale verification was stored: %+v", v)
	}
	if got := f.events(bluegreen.ActionVerify); len(got) != 1 || !strings.HasPrefix(got[0], "refused: verification of green refused: ") {
		t.Errorf("verify events %q; want the refusal", got)
	}
}

// TestFastApprovalGate: with require_approval a verified release still
// needs an approval; the approval is stored against the release.
func TestFastApprovalGate(t *testing.T) {
	f := newFast(t, func(o *controller.Options) { o.Gates.RequireApproval = true })
	ctx := t.Context()
	if _, err := f.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v2", Actor: "ada"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ctl.Verify(ctx, bluegreen.VerifyRequest{Color: bluegreen.Green, Actor: "qa"}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := f.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"})
	if bluegreen.ErrorCode(err) != bluegreen.EREFUSED || !strings.Contains(err.Error(), "has not been approved") {
		t.Fatalf("switch without approval: %v", err)
	}
	a, err := f.ctl.Approve(ctx, bluegreen.ApproveRequest{Color: bluegreen.Green, Actor: "lead"})
	if err != nil || a.SHA != "sha-v2" || a.By != "lead" {
		t.Fatalf("approval %+v, %v", a, err)
	}
	if _, err := f.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"}); err != nil {
		t.Fatalf("switch after approval: %v", err)
	}
	if got := f.events(bluegreen.ActionApprove); len(got) != 1 || got[0] != "ok: lead approved green (sha-v2)" {
		t.Errorf("approve events %q", got)
	}
}

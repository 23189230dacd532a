package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
)

// TestEveryRefusalIsRecorded (issue 23, finding 14d): deploys, syncs,
// verifications, approvals, lock releases and switches refused before they
// ran are each recorded with outcome refused, as a refused switch is, and
// stamped with the caller's token.
func TestEveryRefusalIsRecorded(t *testing.T) {
	e := newEnvWith(t, nil, func(o *controller.Options) {
		o.Deploy = &controller.DeployConfig{ValidateRef: func(ref string) error {
			if strings.HasPrefix(ref, "-") {
				return bluegreen.Errorf(bluegreen.EINVALID, "ref %q: must not start with '-'", ref)
			}
			return nil
		}}
	})
	ctx := bluegreen.WithCaller(context.Background(), bluegreen.Caller{Token: "ci", Role: bluegreen.RoleDeployer})
	mustRefuse := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s was not refused", what)
		}
	}
	_, err := e.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Blue, Ref: "v2", Actor: "alice"}, nil)
	mustRefuse("a deploy into the live color", err)
	_, err = e.ctl.DeployDetached(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "--upload-pack=/x/pwn.sh", Actor: "alice"})
	mustRefuse("a deploy of a ref that looks like an option", err)
	_, err = e.ctl.Deploy(ctx, bluegreen.DeployRequest{Sync: true, Actor: "alice"}, nil)
	mustRefuse("a sync with nothing deployed", err)
	_, err = e.ctl.Approve(ctx, bluegreen.ApproveRequest{Color: bluegreen.Green, Actor: "alice"})
	mustRefuse("an approval of a color without a release", err)
	_, err = e.ctl.Rollback(ctx, bluegreen.SwitchRequest{Actor: "alice"})
	mustRefuse("a rollback before any switch", err)
	_, err = e.ctl.Verify(ctx, bluegreen.VerifyRequest{Color: "purple", Actor: "alice"}, nil)
	mustRefuse("a verification of an unknown color", err)

	release, err := e.ctl.Acquire(context.Background(), "bob", "deploy green ref v3")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v2", Actor: "alice"}, nil)
	mustRefuse("a deploy while the lock is held", err)
	_, err = e.ctl.Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "alice"})
	mustRefuse("a switch while the lock is held", err)
	mustRefuse("a release of a running operation's lock", e.ctl.ReleaseLock(ctx, "alice", false))
	release(bluegreen.OutcomeOK)

	want := []struct {
		action  bluegreen.Action
		message string
	}{
		{bluegreen.ActionDeploy, `deploy of "v2" into blue refused: blue is live`},
		{bluegreen.ActionDeploy, `deploy of "--upload-pack=/x/pwn.sh" into green refused: ref "--upload-pack=/x/pwn.sh": must not start with '-'`},
		{bluegreen.ActionDeploy, "sync refused: nothing to sync"},
		{bluegreen.ActionApprove, "approval of green refused: green runs no release"},
		{bluegreen.ActionRollback, "rollback refused: nothing to roll back"},
		{bluegreen.ActionVerify, `verification refused: unknown color "purple"`},
		{bluegreen.ActionDeploy, `deploy of "v2" into green refused: locked by bob since `},
		{bluegreen.ActionSwitch, "switch to green refused: locked by bob since "},
		{bluegreen.ActionLock, "lock release refused: locked by bob since "},
	}
	evs, err := e.store.History(context.Background(), bluegreen.HistoryFilter{Outcome: bluegreen.OutcomeRefused, Until: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		found := false
		for _, ev := range evs {
			if ev.Action == w.action && strings.HasPrefix(ev.Message, w.message) {
				found = true
				if ev.Actor != "alice" || ev.Details["token"] != "ci" {
					t.Errorf("refusal %q recorded with actor %q, token %v; want alice, ci", ev.Message, ev.Actor, ev.Details["token"])
				}
			}
		}
		if !found {
			t.Errorf("no %s event refused with %q", w.action, w.message)
		}
	}
	if len(evs) != len(want) {
		for _, ev := range evs {
			t.Logf("%s %s %s", ev.Action, ev.Outcome, ev.Message)
		}
		t.Errorf("%d refusals recorded, want %d", len(evs), len(want))
	}
}

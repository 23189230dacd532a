package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestRepeatedRefusalsAreCollapsed (issue 23, finding 9): 50 identical
// refused switches of one token (whatever actor each claims) are the first
// event in full, then one event counting the 49 others when the window
// ends; another token's are its own.
func TestRepeatedRefusalsAreCollapsed(t *testing.T) {
	e := newEnvWith(t, nil, func(o *controller.Options) { o.RefusalWindow = 300 * time.Millisecond })
	e.status[bluegreen.Green].Store(503)
	ci := bluegreen.WithCaller(context.Background(), bluegreen.Caller{Token: "ci", Role: bluegreen.RoleDeployer})
	for i := 0; i < 50; i++ {
		if _, err := e.ctl.Switch(ci, bluegreen.SwitchRequest{To: bluegreen.Green, Actor: fmt.Sprintf("actor-%d", i)}); err == nil {
			t.Fatal("a switch to an unhealthy color was not refused")
		}
	}
	other := bluegreen.WithCaller(context.Background(), bluegreen.Caller{Token: "other", Role: bluegreen.RoleDeployer})
	if _, err := e.ctl.Switch(other, bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"}); err == nil {
		t.Fatal("a switch to an unhealthy color was not refused")
	}
	if evs := e.history(t, bluegreen.ActionSwitch); len(evs) != 2 || evs[0].Details["token"] != "other" || evs[1].Actor != "actor-0" {
		t.Fatalf("want ci's first refusal and other's, got %+v", evs)
	}
	var evs []bluegreen.Event
	testenv.WaitFor(t, 5*time.Second, "the count of the repeated refusals", func() bool {
		evs = e.history(t, bluegreen.ActionSwitch)
		return len(evs) >= 3
	})
	sum := evs[0]
	if len(evs) != 3 || sum.Outcome != bluegreen.OutcomeRefused || sum.Details["token"] != "ci" || sum.Details["repeated"] != float64(49) ||
		!strings.Contains(sum.Message, "refused 49 more times") || sum.Actor != "actor-49" ||
		len(sum.Details["actors"].([]any)) != 5 {
		t.Fatalf("want one summary of ci's 49 repeats, got %+v", evs)
	}
}

// TestRefusalKindsAreBoundedPerToken: a token's distinct refusals beyond
// 16 in a window are counted together; Close records what is counted.
func TestRefusalKindsAreBoundedPerToken(t *testing.T) {
	e := newEnvWith(t, nil, func(o *controller.Options) { o.RefusalWindow = time.Hour })
	ctx := bluegreen.WithCaller(context.Background(), bluegreen.Caller{Token: "viewer1", Role: bluegreen.RoleViewer})
	for i := 0; i < 100; i++ {
		e.ctl.Record(ctx, bluegreen.Event{Time: time.Now(), Actor: "x", Action: bluegreen.ActionAccess,
			Outcome: bluegreen.OutcomeRefused, Message: fmt.Sprintf("may not DELETE /v1/tokens/t%d", i)})
	}
	if n := len(e.history(t, bluegreen.ActionAccess)); n != 16 {
		t.Fatalf("100 distinct refusals of one token recorded %d events, want 16", n)
	}
	e.ctl.Close()
	evs := e.history(t, bluegreen.ActionAccess)
	if len(evs) != 17 || evs[0].Details["repeated"] != float64(84) || !strings.Contains(evs[0].Message, "84 more refused calls") ||
		evs[0].Details["example"] != "may not DELETE /v1/tokens/t16" {
		t.Fatalf("after Close, want the 84 others counted in one event; got %d events, newest %+v", len(evs), evs[0])
	}
	// After Close, refusals are recorded one by one.
	e.ctl.Record(ctx, bluegreen.Event{Time: time.Now(), Actor: "x", Action: bluegreen.ActionAccess,
		Outcome: bluegreen.OutcomeRefused, Message: "may not DELETE /v1/tokens/t0"})
	if n := len(e.history(t, bluegreen.ActionAccess)); n != 18 {
		t.Fatalf("a refusal after Close: %d events, want 18", n)
	}
}

package controller_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// TestHealthEventsCarryTheirVerdict: "green is unhealthy" is recorded as a
// failure, "green is healthy" again as ok (issue 23, finding 14e).
func TestHealthEventsCarryTheirVerdict(t *testing.T) {
	e := newEnv(t)
	e.status[bluegreen.Green].Store(503)
	if _, err := e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"}); err == nil {
		t.Fatal("a switch to an unhealthy color was not refused")
	}
	e.status[bluegreen.Green].Store(200)
	if _, err := e.ctl.Switch(context.Background(), bluegreen.SwitchRequest{To: bluegreen.Green, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	evs := e.history(t, bluegreen.ActionHealth)
	want := map[bluegreen.HealthStatus]bluegreen.Outcome{bluegreen.HealthUnhealthy: bluegreen.OutcomeFailed, bluegreen.HealthHealthy: bluegreen.OutcomeOK}
	seen := 0
	for _, ev := range evs {
		if ev.Color != bluegreen.Green {
			continue
		}
		for status, outcome := range want {
			if m := "green is " + string(status); ev.Message == m || strings.HasPrefix(ev.Message, m+":") {
				seen++
				if ev.Outcome != outcome {
					t.Errorf("health event %q has outcome %q, want %q", ev.Message, ev.Outcome, outcome)
				}
			}
		}
	}
	if seen < 2 {
		t.Fatalf("want an unhealthy and a healthy event for green, got %+v", evs)
	}
}

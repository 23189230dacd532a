package bluegreen

import (
	"encoding/json"
	"testing"
	"time"
)

// A color of plain upstreams keeps the JSON it had before hosts existed; a
// color with hosts adds one object per host.
func TestHealthJSON(t *testing.T) {
	since := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    Health
		want string
	}{
		{Health{Status: HealthUnhealthy, Reason: "r", Since: since},
			`{"status":"unhealthy","reason":"r","since":"2026-12-07T12:00:00Z"}`},
		{Health{Status: HealthUnhealthy, Reason: "r", Since: since, Hosts: []HostHealth{
			{Name: "app-3", Address: "10.0.0.3:8000", Healthy: true, Checked: since},
			{Name: "app-4", Address: "10.0.0.4:8000", Reason: "r", Checked: since}}},
			`{"status":"unhealthy","reason":"r","since":"2026-12-07T12:00:00Z","hosts":[` +
				`{"name":"app-3","address":"10.0.0.3:8000","healthy":true,"checked":"2026-12-07T12:00:00Z"},` +
				`{"name":"app-4","address":"10.0.0.4:8000","healthy":false,"reason":"r","checked":"2026-12-07T12:00:00Z"}]}`},
	} {
		got, err := json.Marshal(tc.h)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("json = %s\nwant   %s", got, tc.want)
		}
		var back Health
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if again, _ := json.Marshal(back); string(again) != tc.want {
			t.Errorf("round trip = %s, want %s", again, tc.want)
		}
	}
}

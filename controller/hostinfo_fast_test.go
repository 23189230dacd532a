package controller_test

import (
	"context"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
)

// hostsHealth is fakeHealth whose green lists two hosts.
type hostsHealth struct {
	fakeHealth
	checked time.Time
}

func (h *hostsHealth) Health(c bluegreen.Color) bluegreen.Health {
	v := h.fakeHealth.Health(c)
	if c == bluegreen.Green {
		v.Hosts = []bluegreen.HostHealth{
			{Name: "app-2", Address: "127.0.0.1:9002", Healthy: true, Checked: h.checked},
			{Name: "app-3", Address: "127.0.0.1:9003", Reason: "GET /healthz: status 500, want 200", Checked: h.checked},
		}
	}
	return v
}

func (h *hostsHealth) Verify(ctx context.Context, c bluegreen.Color) (bluegreen.Health, error) {
	_, err := h.fakeHealth.Verify(ctx, c)
	return h.Health(c), err
}

func TestFastHostInfo(t *testing.T) {
	health := &hostsHealth{checked: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	f := newFast(t, func(o *controller.Options) { o.Health = health })

	hi, err := f.ctl.HostInfo(t.Context(), "app-3")
	want := bluegreen.HostInfo{Name: "app-3", Color: bluegreen.Green, Address: "127.0.0.1:9003",
		Health: bluegreen.HostHealth{Name: "app-3", Address: "127.0.0.1:9003", Reason: "GET /healthz: status 500, want 200", Checked: health.checked}}
	if err != nil || hi.Release != nil || hi.Name != want.Name || hi.Color != want.Color || hi.Address != want.Address || hi.Health != want.Health {
		t.Fatalf("before a deploy: %+v, %v; want %+v", hi, err, want)
	}

	if _, err := f.ctl.Deploy(t.Context(), bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v2", Actor: "ada"},
		func(bluegreen.Progress) {}); err != nil {
		t.Fatal(err)
	}
	hi, err = f.ctl.HostInfo(t.Context(), "app-2")
	if err != nil || hi.Color != bluegreen.Green || !hi.Health.Healthy || hi.Release == nil || hi.Release.SHA != "sha-v2" {
		t.Fatalf("after deploying v2 into green: %+v, %v; want app-2 of green, healthy, release sha-v2", hi, err)
	}

	if _, err := f.ctl.HostInfo(t.Context(), "app-9"); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Errorf("an unlisted host: %v, want not found", err)
	}
}

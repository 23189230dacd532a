package controller_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
)

// hostsHealth is fakeHealth whose green lists two hosts and blue one.
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
	if c == bluegreen.Blue {
		v.Hosts = []bluegreen.HostHealth{{Name: "app-1", Address: "127.0.0.1:9001", Healthy: true, Checked: h.checked}}
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

func TestFastReleaseArchive(t *testing.T) {
	f := newFast(t, func(o *controller.Options) { o.Health = &hostsHealth{} })
	fetch := func(host, sha string) (string, error) {
		var b strings.Builder
		err := f.ctl.ReleaseArchive(t.Context(), host, sha, &b)
		return b.String(), err
	}
	if got, err := fetch("app-2", "sha-v2"); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND || got != "" {
		t.Fatalf("before a deploy: %q, %v; want not found and nothing written", got, err)
	}
	if _, err := f.ctl.Deploy(t.Context(), bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "v2", Actor: "ada"},
		func(bluegreen.Progress) {}); err != nil {
		t.Fatal(err)
	}
	if got, err := fetch("app-2", "sha-v2"); err != nil || got != "archive of sha-v2" {
		t.Fatalf("green's host, green's release: %q, %v; want the archive of sha-v2", got, err)
	}
	for _, tc := range []struct{ host, sha, msg string }{
		{"app-3", "sha-v1", "host app-3's color has no release sha-v1 (nor does a deployment order the host to run it)"},
		{"app-1", "sha-v2", "host app-1's color has no release sha-v2 (nor does a deployment order the host to run it)"},
		{"app-9", "sha-v2", `no color lists host "app-9"`},
	} {
		got, err := fetch(tc.host, tc.sha)
		if bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND || bluegreen.ErrorMessage(err) != tc.msg || got != "" {
			t.Errorf("%s asking for %s: %q, %v; want not found %q, nothing written", tc.host, tc.sha, got, err, tc.msg)
		}
	}

	noApp := newFast(t, func(o *controller.Options) { o.Health = &hostsHealth{}; o.Deploy = nil })
	err := noApp.ctl.ReleaseArchive(t.Context(), "app-2", "sha-v2", io.Discard)
	if bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND || !strings.Contains(err.Error(), "no repository configured") {
		t.Errorf("without an app: section: %v; want not found, no repository configured", err)
	}
}

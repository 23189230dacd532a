package daemon

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/config"
)

// loadConfig writes a configuration on loopback port 0, with extra appended
// and blueExtra, greenExtra added to the colors, and loads it.
func loadConfig(t *testing.T, extra, blueExtra, greenExtra string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "bluegreen.yaml")
	yaml := `listen: 127.0.0.1:0
preview: 127.0.0.1:0
api: 127.0.0.1:0
state: state
router:
  drain_timeout: 1s
blue:
  branch: production` + blueExtra + `
  upstreams: [127.0.0.1:1]
  health: {path: /healthz, interval: 200ms, timeout: 150ms}
green:
  branch: green` + greenExtra + `
  upstreams: [127.0.0.1:2]
  health: {path: /healthz, interval: 200ms, timeout: 150ms}
` + extra
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRunServesUntilItsContextEnds: New sets up, Run calls Ready once the
// three listeners serve, and returns nil when ctx ends; Close releases the
// listeners.
func TestRunServesUntilItsContextEnds(t *testing.T) {
	cfg := loadConfig(t, "", "", "")
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	ready := make(chan Endpoints, 1)
	d, err := New(context.Background(), cfg, logger, Options{Ready: func(e Endpoints) { ready <- e }, Version: "test"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var ep Endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		t.Fatalf("Run returned before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not serve within 30s")
	}
	if ep.Live != bluegreen.Blue || ep.APIScheme != "http" || ep.Token == "" || !ep.TokenCreated {
		t.Errorf("endpoints %+v", ep)
	}
	resp, err := http.Get("http://" + ep.API + "/v1/status")
	if err != nil {
		t.Fatalf("the API: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the API without a token answered %s, want 401", resp.Status)
	}
	if _, err := d.HandOver(); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
		t.Errorf("HandOver of a daemon that is not the whole process: %v, want EINVALID", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	d.Close()
	for _, a := range []string{ep.Public, ep.Preview, ep.API} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s still taken after Close: %v", a, err)
			continue
		}
		ln.Close()
	}
}

// TestNewClosesWhatItSetUpOnAnError: a configuration New cannot run is
// EINVALID, and the listeners it had bound are free again.
func TestNewClosesWhatItSetUpOnAnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := ln.Addr().String()
	ln.Close()
	cfg := loadConfig(t, "app:\n  repo: "+t.TempDir()+"\n  run: ./app\n", "\n  ports: [9001, 9002]", "\n  port: 9003")
	cfg.Listen = public
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	d, err := New(context.Background(), cfg, logger, Options{})
	if bluegreen.ErrorCode(err) != bluegreen.EINVALID || d != nil {
		t.Fatalf("New with two ports for the process driver: %v, %v; want EINVALID", d, err)
	}
	ln, err = net.Listen("tcp", public)
	if err != nil {
		t.Fatalf("the public address is still taken after New failed: %v", err)
	}
	ln.Close()
}

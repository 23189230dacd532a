package process

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestAppsStartAdoptStop: Apps records the running app in <root>/<color>/current,
// a second Apps (a new server) re-adopts it without replaying its old events,
// and Stop forgets it.
func TestAppsStartAdoptStop(t *testing.T) {
	root, dir := t.TempDir(), t.TempDir()
	cfg := AppsConfig{Binary: testBinary(t), Root: root, Command: "echo up; exec sleep 1000", StopGrace: 5 * time.Second,
		Logger: testLogger(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := NewApps(cfg)
	if err := first.Start(ctx, bluegreen.Blue, "r1", dir, []string{"PATH=" + os.Getenv("PATH")}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(root, "blue", "current"))
	if err != nil || strings.TrimSpace(string(b)) != filepath.Join(root, "blue", "r1") {
		t.Fatalf("current file: %q, %v", b, err)
	}
	if evs := first.Events(); len(evs) == 0 || evs[0].Action != bluegreen.ActionProcess || evs[0].Color != bluegreen.Blue {
		t.Errorf("first Events: %+v; want the app's start as process events of blue", evs)
	}
	if evs := first.Events(); len(evs) != 0 {
		t.Errorf("second Events: %+v; want none (each event once)", evs)
	}

	second := NewApps(cfg)
	found := second.Adopt()
	if !strings.HasPrefix(found[bluegreen.Blue], "re-adopted release r1") || len(found) != 1 {
		t.Fatalf("Adopt: %v; want blue re-adopted", found)
	}
	if evs := second.Events(); len(evs) != 0 {
		t.Errorf("Events after Adopt: %+v; want none (the history has them)", evs)
	}
	testenv.WaitFor(t, 5*time.Second, "the app's output", func() bool {
		lines, _ := second.LogTail(bluegreen.Blue, 1)
		return len(lines) == 1 && lines[0] == "up"
	})
	if err := second.Stop(ctx, bluegreen.Blue); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "blue", "current")); !os.IsNotExist(err) {
		t.Errorf("current file after Stop: %v; want it gone", err)
	}
	if _, err := second.LogTail(bluegreen.Blue, 1); bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND {
		t.Errorf("LogTail after Stop: %v; want ENOTFOUND", err)
	}
	if err := second.Stop(ctx, bluegreen.Green); err != nil {
		t.Errorf("Stop of a color with nothing running: %v", err)
	}
}

// TestAppsStartCommand: a start with its own command and stop grace runs
// that command, not the configured one, and App follows the app.
func TestAppsStartCommand(t *testing.T) {
	root, dir := t.TempDir(), t.TempDir()
	apps := NewApps(AppsConfig{Binary: testBinary(t), Root: root, Command: "echo configured; exec sleep 1000", Logger: testLogger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if rel, pid, ok := apps.App(bluegreen.Green); ok || pid != 0 || rel != "" {
		t.Errorf("App before any start: %q %d %v, want nothing", rel, pid, ok)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "WORD=ordered"}
	if err := apps.StartCommand(ctx, bluegreen.Green, "d1", dir, `echo "$WORD"; exec sleep 1000`, 2*time.Second, env); err != nil {
		t.Fatalf("StartCommand: %v", err)
	}
	t.Cleanup(func() { apps.Stop(context.Background(), bluegreen.Green) })
	testenv.WaitFor(t, 5*time.Second, "the ordered command's output", func() bool {
		lines, _ := apps.LogTail(bluegreen.Green, 1)
		return len(lines) == 1 && lines[0] == "ordered"
	})
	spec, err := LoadSpec(filepath.Join(root, "green", "d1", specFile))
	if err != nil || spec.StopGrace != 2*time.Second {
		t.Errorf("spec: stop grace %v (%v), want 2s", spec.StopGrace, err)
	}
	rel, pid, ok := apps.App(bluegreen.Green)
	if id, err := identify(pid); !ok || rel != "d1" || pid <= 0 || err != nil || !id.alive() {
		t.Fatalf("App after StartCommand: %q %d %v, want d1 and the running app's pid", rel, pid, ok)
	}
	if err := apps.Stop(ctx, bluegreen.Green); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := apps.App(bluegreen.Green); ok {
		t.Errorf("App after Stop: known, want forgotten")
	}
}

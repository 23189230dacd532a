package command

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
)

// TestDriverRunsTheScriptsWithColorAndPort: deploy runs in the release
// directory with the given environment; stop and status run in Dir with
// Env, BLUEGREEN_COLOR and the color's first port; failures quote the
// output.
func TestDriverRunsTheScriptsWithColorAndPort(t *testing.T) {
	dir, rel := t.TempDir(), t.TempDir()
	d := New(Config{
		Deploy: `echo "deploy $FOO" > deployed`,
		Stop:   `echo "stop $BLUEGREEN_COLOR $PORT $BAR" >> stops`,
		Status: `test "$BLUEGREEN_COLOR" = blue`,
		Dir:    dir, Env: []string{"BAR=bar", "PATH=" + os.Getenv("PATH")},
		Ports: map[bluegreen.Color][]int{bluegreen.Blue: {8001, 8002}},
	})
	ctx := context.Background()
	if err := d.Start(ctx, bluegreen.Blue, "r1", rel, []string{"FOO=foo", "PATH=" + os.Getenv("PATH")}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(rel, "deployed")); string(b) != "deploy foo\n" {
		t.Errorf("deploy wrote %q", b)
	}
	for _, c := range bluegreen.Colors {
		if err := d.Stop(ctx, c); err != nil {
			t.Fatalf("Stop %s: %v", c, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "stops")); string(b) != "stop blue 8001 bar\nstop green  bar\n" {
		t.Errorf("stop wrote %q", b)
	}
	got := d.Statuses(ctx)
	if !strings.HasPrefix(got[bluegreen.Blue], "running") || !strings.HasPrefix(got[bluegreen.Green], "not running") {
		t.Errorf("Statuses: %v; want blue running, green not", got)
	}
	fail := New(Config{Deploy: "echo broken; exit 3", Stop: "true"})
	if err := fail.Start(ctx, bluegreen.Green, "r1", rel, nil); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("a failing deploy: %v; want an error quoting its output", err)
	}
	if got := fail.Statuses(ctx); len(got) != 0 {
		t.Errorf("Statuses without a status command: %v; want none", got)
	}
}

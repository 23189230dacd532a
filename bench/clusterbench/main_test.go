package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/testenv"
)

func TestPercentiles(t *testing.T) {
	var xs []float64
	for i := 100; i >= 1; i-- {
		xs = append(xs, float64(i))
	}
	orig := slices.Clone(xs)
	if got, want := percentiles(xs), [3]float64{50, 99, 100}; got != want {
		t.Errorf("percentiles(100..1) = %v, want %v", got, want)
	}
	if !slices.Equal(xs, orig) {
		t.Error("percentiles reordered its argument")
	}
	if got, want := percentiles([]float64{7}), [3]float64{7, 7, 7}; got != want {
		t.Errorf("percentiles([7]) = %v, want %v", got, want)
	}
	if got, want := percentiles([]float64{3, 1, 2}), [3]float64{2, 3, 3}; got != want {
		t.Errorf("percentiles([3 1 2]) = %v, want %v", got, want)
	}
	if got := pcts(nil); got != "-" {
		t.Errorf("pcts(nil) = %q, want -", got)
	}
}

// build compiles the package at pkg (relative to the module root) into dir
// and returns the binary's path.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// A small run end to end: two serves on a real etcd and one on SQLite,
// each under load; every switch succeeds and is confirmed by both routers,
// no request fails, and everything the run started is stopped and its
// directory removed.
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bluegreen and runs etcd and four processes")
	}
	etcd := testenv.LookPath(t, "etcd", "etcd-server", "/usr/bin/etcd")
	bins := t.TempDir()
	bin, backend := build(t, bins, "cmd/bluegreen"), build(t, bins, "bench/backend")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"-bin", bin, "-etcd", etcd, "-backend", backend, "-serves", "2", "-n", "6",
		"-c", "2", "-rate", "200", "-warmup", "100ms", "-gap", "0"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	report := out.String()
	for _, want := range []string{
		"| edge-1 | etcd |", "| edge-2 | etcd |", "| sqlite | SQLite |",
		"| switches done / failed | 6 / 0 | 6 / 0 |",
		"| acknowledgements missing (of 2 per switch) | 0 | - |",
		"- target spread p99 <= 50 ms:",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "error:") {
		t.Errorf("the report names errors:\n%s", report)
	}
	left, err := os.ReadDir(tmp)
	if err != nil || len(left) != 0 {
		t.Errorf("the run left %v in its temporary directory (%v)", left, err)
	}
	// Every process it started names a file in its temporary directory (a
	// config, a data directory) or is the backend: none is left.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && (bytes.Contains(b, []byte(tmp)) || bytes.HasPrefix(b, []byte(backend))) {
			t.Errorf("a process the run started is still running: %s", bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// kv parses one line of key=value pairs.
func kv(t *testing.T, line string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("%q in %q is not key=value", f, line)
		}
		m[k] = v
	}
	return m
}

// Two measured runs write their histograms; -pool counts every request of
// both and its p99 lies between the two runs' own (up to one bucket above
// the higher one: see the check).
func TestHistogramFilesPool(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	dir := t.TempDir()
	var files []string
	var total int
	var p99s []float64
	for i := range 2 {
		f := filepath.Join(dir, "run"+strconv.Itoa(i)+".hist")
		var out bytes.Buffer
		err := run(context.Background(), []string{"-url", srv.URL, "-rate", "400", "-c", "4", "-d", "300ms",
			"-warmup", "0", "-format", "kv", "-hist", f}, &out)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out.String())
		}
		m := kv(t, out.String())
		n, _ := strconv.Atoi(m["requests"])
		p99, _ := strconv.ParseFloat(m["p99_ms"], 64)
		if n == 0 || p99 <= 0 {
			t.Fatalf("run %d: %s", i, out.String())
		}
		total += n
		p99s = append(p99s, p99)
		files = append(files, f)
	}
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"-pool", "-format", "kv"}, files...), &out); err != nil {
		t.Fatal(err)
	}
	m := kv(t, out.String())
	if m["runs"] != "2" || m["requests"] != strconv.Itoa(total) {
		t.Errorf("pooled %s; want runs=2 requests=%d", out.String(), total)
	}
	// A run's p99 is its bucket's upper bound capped at that run's maximum;
	// the pooled histogram's maximum is the larger of the two, so its p99
	// may be the uncapped bound of the higher run's bucket: up to one
	// bucket (6.25%) above that run's figure, plus the printed rounding.
	p99, _ := strconv.ParseFloat(m["p99_ms"], 64)
	lo, hi := min(p99s[0], p99s[1]), max(p99s[0], p99s[1])
	if p99 < lo || p99 > hi*17/16+0.001 {
		t.Errorf("pooled p99 %v ms outside the runs' %v (up to one bucket above the higher)", p99, p99s)
	}
}

func TestPoolRefusesABadFile(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.hist")
	if err := os.WriteFile(bad, []byte("p99=3ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"-pool", bad}, &out)
	if err == nil || !strings.Contains(err.Error(), bad+": line 1") {
		t.Errorf("-pool %s: %v, want an error naming the file and line 1", bad, err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q for a refused file", out.String())
	}
	if err := run(context.Background(), []string{"-pool"}, &out); err == nil {
		t.Error("-pool with no file: no error")
	}
}

package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// nested returns a document whose collections nest n deep, in one of the
// forms YAML allows.
func nested(form string, n int) string {
	var b strings.Builder
	switch form {
	case "flow list":
		b.WriteString("a: " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n")
	case "flow mapping":
		b.WriteString(strings.Repeat("{a: ", n) + "x" + strings.Repeat("}", n) + "\n")
	case "compact list":
		b.WriteString(strings.Repeat("- ", n) + "x\n")
	case "block mapping":
		for i := range n {
			b.WriteString(strings.Repeat(" ", i) + "a:\n")
		}
	case "list in mapping":
		// A block list may sit in its mapping's column: two levels a line.
		for i := range n / 2 {
			b.WriteString(strings.Repeat("  ", i) + "- a:\n")
		}
	}
	return b.String()
}

// TestDeepNestingRefusedBeforeParsing: a document nested deeper than
// MaxDepth is refused with the position of the first collection too deep,
// in every form, and cheaply: the parser (quadratic in the depth) never runs.
func TestDeepNestingRefusedBeforeParsing(t *testing.T) {
	for _, form := range []string{"flow list", "flow mapping", "compact list", "block mapping", "list in mapping"} {
		t.Run(form, func(t *testing.T) {
			deep := 10_000
			if strings.HasPrefix(form, "block") || strings.HasPrefix(form, "list") {
				deep = 500 // indentation makes the file quadratic in size
			}
			src := nested(form, deep)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Parse("deep.yaml", []byte(src))
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "nests lists and mappings more than 64 levels deep") {
				t.Fatalf("Parse of a %s %d deep = %v, want the nesting refused", form, deep, err)
			}
			if !strings.HasPrefix(err.Error(), "deep.yaml:") || strings.HasPrefix(err.Error(), "deep.yaml: ") {
				t.Errorf("error %q has no line:col", err)
			}
			if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 32 {
				t.Errorf("refusing a %s %d deep allocated %d MB, want < 32", form, deep, mb)
			}
		})
	}
}

// TestDepthLimitIsExact: MaxDepth levels pass the depth check (the schema
// then complains about the content), one more is refused.
func TestDepthLimitIsExact(t *testing.T) {
	for _, form := range []string{"flow list", "flow mapping", "compact list", "block mapping", "list in mapping"} {
		n := MaxDepth
		if form == "flow list" {
			n-- // the top-level mapping is one level
		}
		_, err := Parse("ok.yaml", []byte(nested(form, n)))
		if err == nil || strings.Contains(err.Error(), "levels deep") {
			t.Errorf("%s at the limit: %v, want a schema error, not a depth error", form, err)
		}
		_, err = Parse("deep.yaml", []byte(nested(form, n+2)))
		if err == nil || !strings.Contains(err.Error(), "levels deep") {
			t.Errorf("%s past the limit: %v, want a depth error", form, err)
		}
	}
}

// TestTooBigFileRefused: a file over MaxFileSize is refused unread past the
// limit, by Load and by Parse.
func TestTooBigFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte("# "+strings.Repeat("x", MaxFileSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "may have at most 262144") {
		t.Fatalf("Load of a %d-byte file = %v, want it refused", MaxFileSize+3, err)
	}
}

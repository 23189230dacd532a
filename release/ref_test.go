package release

import (
	"strings"
	"testing"
)

func TestLooksLikeSHA(t *testing.T) {
	for ref, want := range map[string]bool{
		"abc1234": true, "ABC1234": true, strings.Repeat("f", 40): true,
		"abc123": false, strings.Repeat("f", 41): false, "abc123g": false, "production": false,
	} {
		if got := looksLikeSHA(ref); got != want {
			t.Errorf("looksLikeSHA(%q) = %v, want %v", ref, got, want)
		}
	}
}

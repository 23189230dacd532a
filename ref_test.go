package bluegreen

import (
	"strings"
	"testing"
)

func TestValidateRef(t *testing.T) {
	valid := []string{
		"production", "green", "feature/x", "v1.2.3", "release-2024.03+build_7",
		"refs/heads/main", "abc1234", strings.Repeat("0123456789", 4), strings.Repeat("a", MaxRefLen),
	}
	for _, ref := range valid {
		if err := ValidateRef(ref); err != nil {
			t.Errorf("ValidateRef(%q) = %v, want nil", ref, err)
		}
	}
	invalid := []struct{ ref, rule string }{
		{"", "empty"},
		{strings.Repeat("a", MaxRefLen+1), "longer than 200"},
		{"--upload-pack=touch /tmp/x", `starts with "-"`},
		{"-x", `starts with "-"`},
		{"$(touch /tmp/x)", "contains a space"},
		{"$(touch${IFS}/tmp/x)", "contains '$'"},
		{"`id`", "contains '`'"},
		{"a;b", "contains ';'"},
		{"a|b", "contains '|'"},
		{"a'b", `contains '''`},
		{`a"b`, `contains '"'`},
		{"a\\b", `contains '\'`},
		{"a:b", "contains ':'"},
		{"a~1", "contains '~'"},
		{"a^", "contains '^'"},
		{"a*", "contains '*'"},
		{"a?", "contains '?'"},
		{"a[b", "contains '['"},
		{"héllo", "non-ASCII"},
		{"../../etc", `contains ".."`},
		{"a..b", `contains ".."`},
		{"a b", "contains a space"},
		{"a\tb", "control character"},
		{"a\nb", "control character"},
		{"a\x00b", "control character"},
		{"a\x7fb", "control character"},
		{"a@{1}", `contains "@{"`},
		{"a//b", `contains "//"`},
		{"/abs", `starts with "/"`},
		{"a/", `ends with "/"`},
		{"a.", `ends with "."`},
		{"x.lock", `ends with ".lock"`},
		{"a/x.lock/b", `ends with ".lock"`},
		{".hidden", `starts with "."`},
		{"a/.hidden", `starts with "."`},
	}
	for _, tc := range invalid {
		err := ValidateRef(tc.ref)
		if err == nil {
			t.Errorf("ValidateRef(%q) = nil, want an error about %s", tc.ref, tc.rule)
			continue
		}
		if code := ErrorCode(err); code != EINVALID {
			t.Errorf("ValidateRef(%q): code %q, want %q", tc.ref, code, EINVALID)
		}
		msg := ErrorMessage(err)
		if !strings.Contains(msg, tc.rule) {
			t.Errorf("ValidateRef(%q) = %q, want it to name the rule %q", tc.ref, msg, tc.rule)
		}
		if len(tc.ref) <= 60 && !strings.Contains(msg, quoteRef(tc.ref)) {
			t.Errorf("ValidateRef(%q) = %q, want it to name the ref", tc.ref, msg)
		}
	}
}

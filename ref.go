package bluegreen

import (
	"strconv"
	"strings"
)

// MaxRefLen is the longest ref ValidateRef accepts.
const MaxRefLen = 200

// ValidateRef accepts a branch or tag name (optionally fully qualified as
// refs/heads/... or refs/tags/...) or a full or short (7-40 hex digits) commit
// SHA, and rejects everything else without running any process: an empty ref,
// one longer than MaxRefLen, one starting with "-" or "/", containing "..",
// "@{", "//", a control character or a space, any byte outside
// [A-Za-z0-9._/+-] (so shell metacharacters, quotes and backticks are
// rejected), a path component starting with "." or ending with ".lock", and a
// trailing "/" or ".". The error is an EINVALID *Error naming the ref and the
// rule it broke. It is the one ref check: deploy requests and the branches of
// the config file both go through it. ValidateRef is safe for concurrent use.
func ValidateRef(ref string) error {
	if rule := refRule(ref); rule != "" {
		return Errorf(EINVALID, "invalid ref %s: %s", quoteRef(ref), rule)
	}
	return nil
}

// refRule returns the rule ref breaks, or "" when it is acceptable.
func refRule(ref string) string {
	switch {
	case ref == "":
		return "it is empty"
	case len(ref) > MaxRefLen:
		return "it is longer than 200 characters"
	case strings.HasPrefix(ref, "-"):
		return `it starts with "-"`
	}
	for i := 0; i < len(ref); i++ {
		switch c := ref[i]; {
		case c < 0x20 || c == 0x7f:
			return "it contains a control character"
		case c == ' ':
			return "it contains a space"
		}
	}
	switch {
	case strings.Contains(ref, ".."):
		return `it contains ".."`
	case strings.Contains(ref, "@{"):
		return `it contains "@{"`
	case strings.Contains(ref, "//"):
		return `it contains "//"`
	}
	for i := 0; i < len(ref); i++ {
		if !refByte(ref[i]) {
			return "it contains " + quoteByte(ref[i]) + ": only letters, digits and . _ / + - are allowed"
		}
	}
	switch {
	case strings.HasPrefix(ref, "/"):
		return `it starts with "/"`
	case strings.HasSuffix(ref, "/"):
		return `it ends with "/"`
	case strings.HasSuffix(ref, "."):
		return `it ends with "."`
	}
	for part := range strings.SplitSeq(ref, "/") {
		if strings.HasPrefix(part, ".") {
			return "a component starts with \".\""
		}
		if strings.HasSuffix(part, ".lock") {
			return "a component ends with \".lock\""
		}
	}
	return ""
}

func refByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '.', c == '_', c == '/', c == '+', c == '-':
		return true
	}
	return false
}

func quoteByte(c byte) string {
	if c >= 0x80 {
		return "a non-ASCII byte"
	}
	return "'" + string(rune(c)) + "'"
}

// quoteRef quotes ref for an error message, shortened when it is long.
func quoteRef(ref string) string {
	const max = 60
	if len(ref) > max {
		return strings.TrimSuffix(strconv.Quote(ref[:max]), `"`) + `..."`
	}
	return strconv.Quote(ref)
}

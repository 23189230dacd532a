package release

import (
	"strconv"
	"strings"
)

// Refs are checked by bluegreen.ValidateRef, shared with the config loader.

// quoteRef quotes ref for an error message, shortened when it is long.
func quoteRef(ref string) string {
	const max = 60
	if len(ref) > max {
		return strings.TrimSuffix(strconv.Quote(ref[:max]), `"`) + `..."`
	}
	return strconv.Quote(ref)
}

// isHex reports whether s is non-empty and made of hex digits only.
func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// looksLikeSHA reports whether ref may name a commit by its (short) SHA.
func looksLikeSHA(ref string) bool { return len(ref) >= 7 && len(ref) <= 40 && isHex(ref) }

// isFullSHA reports whether s is a full lowercase SHA-1 as Fetch returns it.
func isFullSHA(s string) bool { return len(s) == 40 && isHex(s) && strings.ToLower(s) == s }

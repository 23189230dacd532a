package config

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Typed decoders. Each stores into dst only when the value is valid and
// otherwise records a problem naming what is expected; dst then keeps its
// default so that later checks see a sane value.

// duration decodes a Go duration string ("30s", "1m30s") that must be > 0.
// A bare number is refused: 30 could mean seconds or nanoseconds.
func (d *decoder) duration(v value, dst *time.Duration) {
	s, ok := d.str(v, "a duration such as 30s")
	if !ok {
		return
	}
	t, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.invalid(v, "%q is not a duration (want e.g. 30s)", s)
	case t <= 0:
		d.invalid(v, "must be > 0, got %s", s)
	default:
		*dst = t
	}
}

// integer decodes an integer in [lo, hi]. A quoted number is refused.
func (d *decoder) integer(v value, lo, hi int, dst *int) {
	n, ok := d.int64(v)
	if !ok {
		return
	}
	if n < int64(lo) || n > int64(hi) {
		if hi == math.MaxInt {
			d.invalid(v, "must be >= %d, got %d", lo, n)
		} else {
			d.invalid(v, "%d is out of range (want %d..%d)", n, lo, hi)
		}
		return
	}
	*dst = int(n)
}

// int64 decodes an integer that fits in an int64.
func (d *decoder) int64(v value) (int64, bool) {
	switch n := v.node.(type) {
	case *ast.IntegerNode:
		switch i := n.Value.(type) {
		case int64:
			return i, true
		case uint64:
			if i <= math.MaxInt64 {
				return int64(i), true
			}
		}
		d.invalid(v, "%s is too large", n.Token.Value)
		return 0, false
	case *ast.StringNode:
		if _, err := strconv.ParseInt(n.Value, 10, 64); err != nil && !quoted(n) && isDigits(strings.TrimPrefix(n.Value, "-")) {
			d.invalid(v, "%s is too large", n.Value)
			return 0, false
		}
	}
	if v.empty() {
		d.invalid(v, "missing value (want an integer)")
	} else {
		d.invalid(v, "want an integer, got %s", describe(v))
	}
	return 0, false
}

// boolean decodes true or false.
func (d *decoder) boolean(v value, dst *bool) {
	if n, ok := v.node.(*ast.BoolNode); ok && v.tag != "!!str" {
		*dst = n.Value
		return
	}
	if v.empty() {
		d.invalid(v, "missing value (want true or false)")
		return
	}
	d.invalid(v, "want true or false, got %s", describe(v))
}

// sizeUnits are the accepted suffixes of a size, with their multipliers.
var sizeUnits = map[string]int64{
	"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
}

// size decodes a byte count: an integer, or a whole number with a unit
// (10MiB, 512 KB). Negative sizes are refused.
func (d *decoder) size(v value, dst *int64) {
	const want = "bytes or e.g. 512KiB, 10MiB, 1GB"
	if _, ok := v.node.(*ast.IntegerNode); ok {
		if n, ok := d.int64(v); ok && n < 0 {
			d.invalid(v, "must not be negative, got %d", n)
		} else if ok {
			*dst = n
		}
		return
	}
	s, ok := d.str(v, want)
	if !ok {
		return
	}
	n, problem := parseSize(s)
	switch problem {
	case "":
		*dst = n
	case "negative":
		d.invalid(v, "must not be negative, got %s", s)
	default:
		d.invalid(v, "%q %s (want %s; units B, KB, MB, GB, KiB, MiB, GiB)", s, problem, want)
	}
}

// sizeIn is size for a limit that must lie in [lo, hi] bytes.
func (d *decoder) sizeIn(v value, lo, hi int64, dst *int64) {
	n := int64(-1)
	d.size(v, &n)
	switch {
	case n < 0: // size said what is wrong
	case n < lo || n > hi:
		d.invalid(v, "must be between %d and %d bytes, got %d", lo, hi, n)
	default:
		*dst = n
	}
}

// parseSize parses "10MiB", "512 KB" or "1024" into bytes. problem is ""
// on success, else "negative", "is too large" or "is not a size".
func parseSize(s string) (n int64, problem string) {
	s = strings.TrimSpace(s)
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	mult := int64(1)
	if unit != "" {
		m, ok := sizeUnits[unit]
		if !ok {
			return 0, "is not a size"
		}
		mult = m
	}
	if !isDigits(strings.TrimLeft(num, "+-")) {
		return 0, "is not a size"
	}
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case strings.HasPrefix(num, "-") && strings.Trim(num, "-0") != "":
		return 0, "negative"
	case err != nil || n > math.MaxInt64/mult:
		return 0, "is too large"
	}
	return n * mult, ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// addr is a parsed host:port, kept for the cross-field checks.
type addr struct {
	raw  string
	host string // lower case, without brackets
	port int
}

// wildcard reports whether the address listens on every interface.
func (a addr) wildcard() bool { return a.host == "" || a.host == "0.0.0.0" || a.host == "::" }

// clashes reports whether two addresses would be the same socket (port 0
// never clashes: it means "pick a free port").
func (a addr) clashes(b addr) bool {
	return a.port != 0 && a.port == b.port && (a.host == b.host || a.wildcard() || b.wildcard())
}

// address decodes host:port. A listener may have an empty host (all
// interfaces) and port 0 (pick a free port); an upstream needs both.
func (d *decoder) address(v value, listener bool, dst *string) (addr, bool) {
	s, ok := d.str(v, "host:port")
	if !ok {
		return addr{}, false
	}
	a, err := parseAddr(s, listener)
	if err != nil {
		d.invalid(v, "%v", err)
		return addr{}, false
	}
	*dst = s
	return a, true
}

func parseAddr(s string, listener bool) (addr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || strings.ContainsAny(s, " \t/") {
		return addr{}, fmt.Errorf("%q is not host:port", s)
	}
	lo := 1
	if listener {
		lo = 0
	}
	p, err := strconv.Atoi(port)
	if err != nil || !isDigits(port) || p < lo || p > 65535 {
		return addr{}, fmt.Errorf("%q: port %q is not a number %d..65535", s, port, lo)
	}
	if host == "" && !listener {
		return addr{}, fmt.Errorf("%q: host must not be empty", s)
	}
	return addr{raw: s, host: strings.ToLower(host), port: p}, nil
}

// Package textout renders the domain's values as text for people: times,
// commits, and the status report the CLI prints. The CLI's JSON output
// does not go through it.
package textout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Ago says how long before now t was, rounded for people: "3m12s ago";
// "-" for the zero time.
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// Stamp formats t for tables, in local time, to the second; "-" for the
// zero time.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// Short returns a commit SHA's first 12 characters (all of a shorter one).
func Short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// OrDash returns s, or "-" when it is empty.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Gates says where a color's release stands with its gates ("verified,
// approved by alice"); "-" without a release.
func Gates(cs bluegreen.ColorState) string {
	if cs.Release == nil {
		return "-"
	}
	var parts []string
	v := cs.Verification
	switch {
	case v == nil || v.Deployment != cs.Release.Deployment:
		parts = append(parts, "not verified")
	case v.Passed:
		parts = append(parts, "verified")
	default:
		parts = append(parts, "FAILED verification")
	}
	if cs.Approved() {
		parts = append(parts, "approved by "+cs.Approval.By)
	}
	return strings.Join(parts, ", ")
}

// NewLines returns the lines of window that follow prev, two windows of
// the last lines of one growing output (a log tailed twice): window is
// aligned at the latest place where what precedes it ends with prev (all
// of prev, or as much of it as there is before that place), and the lines
// after that place are new. Lines are matched by their text, so identical
// lines can hide new ones; without any overlap the whole window is new
// (the output moved on by more than a window).
func NewLines(prev, window []string) []string {
	for p := len(window); p > 0; p-- {
		k := min(p, len(prev))
		if k > 0 && slices.Equal(window[p-k:p], prev[len(prev)-k:]) {
			return window[p:]
		}
	}
	return window
}

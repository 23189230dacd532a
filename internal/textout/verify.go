package textout

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/bluegreen/bluegreen"
)

// Verification writes the table of a verification: name, result,
// duration, and the first lines of output of each failed check.
func Verification(w io.Writer, v bluegreen.Verification) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tKIND\tRESULT\tDURATION\tATTEMPTS")
	rows := append([]bluegreen.CheckResult(nil), v.Checks...)
	for _, r := range v.LiveChecks {
		r.Name = "live " + string(v.Color.Other()) + ": " + r.Name
		rows = append(rows, r)
	}
	for _, r := range rows {
		res := "passed"
		if !r.OK {
			res = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f ms\t%d\n", r.Name, r.Kind, res, r.DurationMS, r.Attempts)
	}
	tw.Flush()
	for _, r := range rows {
		if r.OK {
			continue
		}
		fmt.Fprintf(w, "\n%s: %s\n", r.Name, r.Error)
		for _, l := range firstN(r.Output, 10) {
			fmt.Fprintf(w, "  | %s\n", l)
		}
	}
	what := "the release it runs"
	if v.SHA != "" {
		what = Short(v.SHA)
	}
	if v.Passed {
		fmt.Fprintf(w, "\n%s (%s) passed verification (%d checks, via %s)\n", v.Color, what, len(v.Checks), v.URL)
	} else {
		fmt.Fprintf(w, "\n%s (%s) FAILED verification: %s\n", v.Color, what, v.Reason)
	}
}

// firstN returns the first n of lines.
func firstN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[:n]
	}
	return lines
}

package main

// CI support: GitHub Actions step outputs and summaries (internal/ghactions
// builds and writes them; this file decides when, and what a failure means).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/ghactions"
)

// reportCI writes the step outputs and summary of a verb that ended with
// opErr (nil when it succeeded). build makes the report from the server's
// status after the verb, nil when it could not be read. It returns the
// error the verb should return: opErr, or the failure to write the files
// when the verb itself succeeded.
func (g *globals) reportCI(ctx context.Context, c *api.Client, opErr error, build func(st *bluegreen.Status) *ghactions.Report) error {
	if !ghactions.Enabled(getenv) {
		return opErr
	}
	// The verb's own context may have expired (--timeout): read the status
	// with a fresh, short one.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var st *bluegreen.Status
	if s, err := c.Status(sctx); err == nil {
		st = &s
	} else {
		fmt.Fprintf(g.stderr, "bluegreen: warning: reading the status for the GitHub outputs: %s\n", errText(err))
	}
	r := build(st)
	outcome, msg := ciOutcome(opErr), ""
	if opErr != nil {
		msg = errText(opErr)
	}
	r.Complete(st, outcome, msg)
	werr := r.Write(getenv, outcome, msg)
	switch {
	case werr == nil:
		return opErr
	case opErr != nil:
		fmt.Fprintf(g.stderr, "bluegreen: warning: %v\n", werr)
		return opErr
	default:
		return &exitError{code: exitFailed, err: fmt.Errorf("%s succeeded, but its GitHub Actions outputs are incomplete: %w", r.Title, werr)}
	}
}

// ciOutcome classifies how a verb ended, for the outcome output: an exit-3
// error is a timeout.
func ciOutcome(err error) string {
	var ee *exitError
	return ghactions.Outcome(err, errors.As(err, &ee) && ee.code == exitTimeout)
}

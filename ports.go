package bluegreen

import (
	"context"
	"time"
)

// This file holds the types that adapters and the controller share, so that
// an adapter (release, router) satisfies the controller's interfaces with
// its own methods, without a translating type in cmd/bluegreen.

// Commit is a git commit resolved from a ref: what a deployment deploys.
type Commit struct {
	// SHA is the commit's full lowercase SHA-1.
	SHA string
	// Ref is the ref it was resolved from, as given.
	Ref string
	// Subject is the first line (paragraph) of the commit message.
	Subject string
	// Author is "Name <email>" of the commit's author.
	Author string
	// Time is the commit's committer time.
	Time time.Time
}

// Drainer waits for the requests that were in flight on the old color when
// traffic swapped to the other one.
type Drainer interface {
	// Wait returns when none are left or timeout has passed; at the timeout
	// the remaining ones are cut. ctx ending cuts them at once.
	Wait(ctx context.Context, timeout time.Duration) DrainReport
}

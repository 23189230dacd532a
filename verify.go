package bluegreen

import "time"

// CheckResult is how one verification check ended.
type CheckResult struct {
	// Name is the check's configured name.
	Name string `json:"name"`
	// Kind is "http" or "command".
	Kind string `json:"kind"`
	// OK is true when the check passed (on any attempt).
	OK bool `json:"ok"`
	// Attempts is how many times it ran (1 + the retries used).
	Attempts int `json:"attempts"`
	// DurationMS is the time spent on all attempts, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Error says why the last attempt failed; empty when OK.
	Error string `json:"error,omitempty"`
	// Output holds lines of the last attempt's output: a command's last
	// lines, or the start of an HTTP response body. Kept on failure only.
	Output []string `json:"output,omitempty"`
}

// Verification is the result of running a color's checks against the
// release it runs.
type Verification struct {
	// Color is the color that was verified.
	Color Color `json:"color"`
	// Deployment is the ID of the deployment whose release was verified;
	// empty when the color runs no release deployed by bluegreen.
	Deployment string `json:"deployment,omitempty"`
	// SHA is the verified release's commit, when known.
	SHA string `json:"sha,omitempty"`
	// Passed is true when every check passed and nothing else failed.
	Passed bool `json:"passed"`
	// Reason says, in one sentence, why verification failed; empty when
	// Passed.
	Reason string `json:"reason,omitempty"`
	// Checks are the results, in configured order.
	Checks []CheckResult `json:"checks"`
	// LiveChecks are the live color's checks re-run after this release's
	// build steps (the migration gate); empty when they were not run.
	LiveChecks []CheckResult `json:"live_checks,omitempty"`
	// URL is the base URL the HTTP checks went to (the preview listener for
	// an inactive color).
	URL string `json:"url,omitempty"`
	// By says who ran it; At when it ended.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Approval records that a person approved a color's release (after manual
// QA) for promotion.
type Approval struct {
	Color      Color     `json:"color"`
	Deployment string    `json:"deployment,omitempty"`
	SHA        string    `json:"sha,omitempty"`
	By         string    `json:"by"`
	At         time.Time `json:"at"`
	Reason     string    `json:"reason,omitempty"`
}

// VerifyRequest asks to run the checks of Color.
type VerifyRequest struct {
	Color  Color  `json:"color"`
	Reason string `json:"reason,omitempty"`
	// Actor says who asks; the API fills it from the caller.
	Actor string `json:"-"`
}

// ApproveRequest asks to approve the current release of Color.
type ApproveRequest struct {
	Color  Color  `json:"color"`
	Reason string `json:"reason,omitempty"`
	// Actor says who asks; the API fills it from the caller.
	Actor string `json:"-"`
}

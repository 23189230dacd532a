package bluegreen

import "time"

// DeploymentStatus is where a deployment stands.
type DeploymentStatus string

// Deployment statuses. Running is the only one that is not final; a
// deployment whose controller died while it ran becomes Interrupted.
const (
	DeploymentRunning     DeploymentStatus = "running"
	DeploymentSucceeded   DeploymentStatus = "succeeded"
	DeploymentFailed      DeploymentStatus = "failed"
	DeploymentInterrupted DeploymentStatus = "interrupted"
)

// Deployment is one deploy of a git ref into a color.
type Deployment struct {
	ID     string           `json:"id"`
	Color  Color            `json:"color"`
	Ref    string           `json:"ref"`
	SHA    string           `json:"sha,omitempty"`
	Status DeploymentStatus `json:"status"`
	// Step is the step running now, or the one that failed. It is stored
	// as each step begins, so that a deployment cut short (serve killed)
	// names where it stopped.
	Step string `json:"step,omitempty"`
	// Command is Step's shell command when the step runs one (a build step
	// or a hook), as configured; empty otherwise.
	Command string `json:"command,omitempty"`
	// Error says why it failed.
	Error string `json:"error,omitempty"`
	// Output holds the last lines of the failed step's output.
	Output  []string     `json:"output,omitempty"`
	Actor   string       `json:"actor"`
	Started time.Time    `json:"started"`
	Ended   time.Time    `json:"ended,omitzero"`
	Steps   []StepResult `json:"steps,omitempty"`
	// Verification is the verification run at the end of the deployment
	// (and the migration gate's live checks), nil when none ran.
	Verification *Verification `json:"verification,omitempty"`
	// Promoted is true when promotion: auto switched traffic to the color
	// after the deployment.
	Promoted bool `json:"promoted,omitempty"`
	// Promotion follows the automatic switch of promotion: auto after a
	// deployment succeeded: PromotionPending until it ran, then
	// PromotionSwitched or PromotionRefused (with PromotionError), or
	// PromotionInterrupted when serve stopped first. Empty without
	// promotion: auto. A follower waits while it is pending.
	Promotion      string `json:"promotion,omitempty"`
	PromotionError string `json:"promotion_error,omitempty"`
}

// Values of Deployment.Promotion.
const (
	PromotionPending     = "pending"
	PromotionSwitched    = "switched"
	PromotionRefused     = "refused"
	PromotionInterrupted = "interrupted"
)

// StepResult is how one step of a deployment ended.
type StepResult struct {
	Name       string  `json:"name"`
	ExitCode   int     `json:"exit_code"`
	DurationMS float64 `json:"duration_ms"`
	OK         bool    `json:"ok"`
}

// Progress is one thing that happened during a deployment, streamed to the
// caller as it happens.
type Progress struct {
	// Step names the step ("fetch", "checkout", "build 1/2", "stop",
	// "start", "health", ...).
	Step string `json:"step"`
	// Line is a line of output or a status message.
	Line string `json:"line,omitempty"`
	// ElapsedMS is the time since the deployment started.
	ElapsedMS float64 `json:"elapsed_ms"`
}

// DeployRequest asks to deploy Ref (default: the color's branch) into Color.
// With Sync, Color and Ref are left empty: the live color's exact commit is
// deployed into the inactive color (the seed's "sync environments").
type DeployRequest struct {
	Sync   bool   `json:"sync,omitempty"`
	Color  Color  `json:"color,omitempty"`
	Ref    string `json:"ref,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Detach returns as soon as the deployment started (API and CLI).
	Detach bool `json:"detach,omitempty"`
	// Actor says who asks; the API fills it from the caller.
	Actor string `json:"-"`
}

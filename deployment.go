package bluegreen

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

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

// Final reports whether s is a final status: every status but
// DeploymentRunning (and the zero status of a deployment not started yet).
func (s DeploymentStatus) Final() bool {
	return s == DeploymentSucceeded || s == DeploymentFailed || s == DeploymentInterrupted
}

// Deployment is one deploy of a git ref into a color. Its Status, Step and
// Promotion change only through its transition methods (Start, Begin,
// Fail, Succeed, Interrupt, Promote, InterruptPromotion), which enforce the
// state machine of docs/architecture.md:
//
//	"" ──Start──► running ──Begin(step)──► running (at step)
//	running ──Fail──► failed · ──Succeed──► succeeded · ──Interrupt──► interrupted
//	succeeded with promotion pending ──Promote──► switched or refused
//	                                 ──InterruptPromotion──► interrupted
//
// A Deployment is a value: it is not safe for concurrent use.
type Deployment struct {
	ID     string           `json:"id"`
	Color  Color            `json:"color"`
	Ref    string           `json:"ref"`
	SHA    string           `json:"sha,omitempty"`
	Status DeploymentStatus `json:"status"`
	// Step is the step running now, or the one that failed. It is stored
	// as each step begins, so that a deployment cut short (serve killed)
	// names where it stopped.
	Step DeployStep `json:"step,omitempty"`
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
	Promotion      Promotion `json:"promotion,omitempty"`
	PromotionError string    `json:"promotion_error,omitempty"`
	// Hosts is each host's part, in the color's order, when the color has
	// hosts run by agents; nil otherwise.
	Hosts []HostRollout `json:"hosts,omitempty"`
}

// Clone returns a copy of d that shares no slice with it (steps, output,
// hosts and their output), safe to keep while d goes on changing.
func (d *Deployment) Clone() Deployment {
	c := *d
	c.Steps = slices.Clone(d.Steps)
	c.Output = slices.Clone(d.Output)
	if d.Hosts != nil {
		c.Hosts = make([]HostRollout, len(d.Hosts))
		for i, h := range d.Hosts {
			h.Output = slices.Clone(h.Output)
			c.Hosts[i] = h
		}
	}
	return c
}

// Promotion is how the automatic switch after a deployment (promotion:
// auto) stands; empty without one. PromotionPending is its only non-final
// value.
type Promotion string

// Values of Deployment.Promotion.
const (
	PromotionPending     Promotion = "pending"     // the switch has yet to run
	PromotionSwitched    Promotion = "switched"    // traffic moved to the color
	PromotionRefused     Promotion = "refused"     // the switch was refused or failed (PromotionError says why)
	PromotionInterrupted Promotion = "interrupted" // serve stopped before the switch ran
)

// ErrTransition is wrapped by the error of a Deployment transition that its
// state machine does not allow from where the deployment stands; such a
// call changes nothing. It is a bug in the caller (code EINTERNAL).
var ErrTransition = &Error{Code: EINTERNAL, Message: "illegal deployment transition"}

func (d *Deployment) illegal(what string) error {
	return fmt.Errorf("%w: %s of deployment %s (status %q, promotion %q)", ErrTransition, what, d.ID, d.Status, d.Promotion)
}

// Start makes a new deployment (zero Status) running, started at at.
func (d *Deployment) Start(at time.Time) error {
	if d.Status != "" {
		return d.illegal("start")
	}
	d.Status, d.Started = DeploymentRunning, at.UTC()
	return nil
}

// Begin records that step begins, running command ("" when it runs none),
// so that a deployment cut short names where it stopped. The deployment
// must be running.
func (d *Deployment) Begin(step DeployStep, command string) error {
	if d.Status != DeploymentRunning {
		return d.illegal("begin " + string(step))
	}
	d.Step, d.Command = step, command
	return nil
}

// Fail ends a running deployment as failed at step with err (non-nil) and
// the last lines of the step's output (nil when there are none), at at.
func (d *Deployment) Fail(step DeployStep, err error, output []string, at time.Time) error {
	if d.Status != DeploymentRunning {
		return d.illegal("failure at " + string(step))
	}
	d.Status, d.Step, d.Error, d.Output, d.Ended = DeploymentFailed, step, err.Error(), output, at.UTC()
	return nil
}

// Succeed ends a running deployment as succeeded at at, with no step left
// running. With promote (promotion: auto), Promotion becomes
// PromotionPending until Promote says how the switch went.
func (d *Deployment) Succeed(at time.Time, promote bool) error {
	if d.Status != DeploymentRunning {
		return d.illegal("success")
	}
	d.Status, d.Step, d.Command, d.Ended = DeploymentSucceeded, "", "", at.UTC()
	if promote {
		d.Promotion = PromotionPending
	}
	return nil
}

// Interrupt ends a running deployment whose controller stopped while it
// ran, at at; reason says so and where (Deployment.Error).
func (d *Deployment) Interrupt(reason string, at time.Time) error {
	if d.Status != DeploymentRunning {
		return d.illegal("interruption")
	}
	d.Status, d.Error, d.Ended = DeploymentInterrupted, reason, at.UTC()
	return nil
}

// Promote records how the pending automatic switch ended: switched when
// err is nil (Promoted), refused with err's text otherwise.
func (d *Deployment) Promote(err error) error {
	if d.Promotion != PromotionPending {
		return d.illegal("promotion")
	}
	if err != nil {
		d.Promotion, d.PromotionError = PromotionRefused, err.Error()
		return nil
	}
	d.Promoted, d.Promotion = true, PromotionSwitched
	return nil
}

// InterruptPromotion records that the pending automatic switch never ran
// (serve stopped first); reason says so.
func (d *Deployment) InterruptPromotion(reason string) error {
	if d.Promotion != PromotionPending {
		return d.illegal("interruption of the promotion")
	}
	d.Promotion, d.PromotionError = PromotionInterrupted, reason
	return nil
}

// DeployStep names a step of a deployment, as Deployment.Step, StepResult
// and Progress report it. The build steps are named by StepBuild; the rest
// are the constants below.
type DeployStep string

// The steps of a deployment, in the order they run (see the state machine
// in docs/architecture.md). StepSwitch and StepDone only name progress
// lines: the automatic switch after a deployment, and its summary.
const (
	StepFetch      DeployStep = "fetch"            // resolve the ref to a commit
	StepCheckout   DeployStep = "checkout"         // write the commit's tree into a release directory
	StepLiveChecks DeployStep = "live checks"      // the migration gate: the live color's checks around the build
	StepPreDeploy  DeployStep = "pre_deploy hook"  // the pre_deploy hook, before the build steps
	StepStop       DeployStep = "stop"             // stop the color's previous release
	StepStart      DeployStep = "start"            // start the new release
	StepHealth     DeployStep = "health"           // wait until the color is healthy
	StepRollout    DeployStep = "rollout"          // a color of hosts: each host's agent builds and starts the release
	StepPostDeploy DeployStep = "post_deploy hook" // the post_deploy hook (its failure is reported, not fatal)
	StepVerify     DeployStep = "verify"           // the color's checks against the new release
	StepSwitch     DeployStep = "switch"           // promotion: auto's switch, after the deployment
	StepDone       DeployStep = "done"             // the deployment's summary line
)

// StepBuild names build step i (1-based) of n: "build 2/3".
func StepBuild(i, n int) DeployStep {
	return DeployStep("build " + strconv.Itoa(i) + "/" + strconv.Itoa(n))
}

// StepResult is how one step of a deployment ended.
type StepResult struct {
	Name       DeployStep `json:"name"`
	ExitCode   int        `json:"exit_code"`
	DurationMS float64    `json:"duration_ms"`
	OK         bool       `json:"ok"`
}

// Progress is one thing that happened during a deployment, streamed to the
// caller as it happens.
type Progress struct {
	// Step names the step ("fetch", "checkout", "build 1/2", "stop",
	// "start", "health", ...).
	Step DeployStep `json:"step"`
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

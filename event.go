package bluegreen

import "time"

// Action is what an event records was done. It is stored and sent as its
// string ("switch", "deploy", ...); the history may hold actions this
// version does not name, so a reader must accept any value.
type Action string

// Actions recorded in the history.
const (
	ActionInit     Action = "init"     // the state was created
	ActionSwitch   Action = "switch"   // traffic moved to another color
	ActionRollback Action = "rollback" // traffic moved back to the previous color
	ActionDrain    Action = "drain"    // the old color's in-flight requests after a switch
	ActionHealth   Action = "health"   // a color's health verdict changed
	ActionServe    Action = "serve"    // a controller started or stopped
	ActionConfig   Action = "config"   // a color's configured branch or upstreams changed
	ActionLock     Action = "lock"     // the operation lock was taken or released
	ActionDeploy   Action = "deploy"   // a release was deployed into a color (or failed to be)
	ActionProcess  Action = "process"  // an app process started, crashed or was restarted
	ActionVerify   Action = "verify"   // a color's checks ran against its release
	ActionApprove  Action = "approve"  // a person approved a color's release for promotion
	ActionWatch    Action = "watch"    // the post-switch watch started, passed or breached
	ActionNotify   Action = "notify"   // a notification (webhook, hook) could not be delivered
	ActionToken    Action = "token"    // an API token was created or revoked
	ActionAccess   Action = "access"   // an API call was refused for the caller's role
)

// Outcome is how the thing an event records ended. It is stored and sent as
// its string; the three constants below are the only values bluegreen
// writes.
type Outcome string

// Outcomes recorded in the history.
const (
	OutcomeOK      Outcome = "ok"      // it happened as asked
	OutcomeRefused Outcome = "refused" // it was refused before anything changed
	OutcomeFailed  Outcome = "failed"  // it was tried and failed (or a check failed)
)

// Event is one entry of the append-only history: who did what to which color,
// when, and how it ended. Events are never edited or deleted.
type Event struct {
	// ID is assigned by the store, increasing in append order.
	ID int64 `json:"id"`
	// Time is when it happened (set by the caller).
	Time time.Time `json:"time"`
	// Actor says who did it: a person, a CI run, or "bluegreen" itself.
	Actor string `json:"actor"`
	// Action is one of the Action constants.
	Action Action `json:"action"`
	// Color is the color acted on, if any.
	Color Color `json:"color,omitempty"`
	// Outcome is one of the Outcome constants.
	Outcome Outcome `json:"outcome"`
	// Revision is the state revision this event produced or saw.
	Revision int64 `json:"revision"`
	// Message is a one-line human summary.
	Message string `json:"message,omitempty"`
	// Details holds structured facts (figures, reasons), stored as JSON.
	Details map[string]any `json:"details,omitempty"`
}

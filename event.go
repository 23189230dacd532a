package bluegreen

import "time"

// Actions recorded in the history.
const (
	ActionInit     = "init"     // the state was created
	ActionSwitch   = "switch"   // traffic moved to another color
	ActionRollback = "rollback" // traffic moved back to the previous color
	ActionDrain    = "drain"    // the old color's in-flight requests after a switch
	ActionHealth   = "health"   // a color's health verdict changed
	ActionServe    = "serve"    // a controller started or stopped
	ActionConfig   = "config"   // a color's configured branch or upstreams changed
	ActionLock     = "lock"     // the operation lock was taken or released
	ActionDeploy   = "deploy"   // a release was deployed into a color (or failed to be)
	ActionProcess  = "process"  // an app process started, crashed or was restarted
	ActionVerify   = "verify"   // a color's checks ran against its release
	ActionApprove  = "approve"  // a person approved a color's release for promotion
	ActionWatch    = "watch"    // the post-switch watch started, passed or breached
	ActionNotify   = "notify"   // a notification (webhook, hook) could not be delivered
	ActionToken    = "token"    // an API token was created or revoked
	ActionAccess   = "access"   // an API call was refused for the caller's role
)

// Outcomes recorded in the history.
const (
	OutcomeOK      = "ok"
	OutcomeRefused = "refused"
	OutcomeFailed  = "failed"
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
	Action string `json:"action"`
	// Color is the color acted on, if any.
	Color Color `json:"color,omitempty"`
	// Outcome is one of the Outcome constants.
	Outcome string `json:"outcome"`
	// Revision is the state revision this event produced or saw.
	Revision int64 `json:"revision"`
	// Message is a one-line human summary.
	Message string `json:"message,omitempty"`
	// Details holds structured facts (figures, reasons), stored as JSON.
	Details map[string]any `json:"details,omitempty"`
}

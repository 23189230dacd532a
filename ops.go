package bluegreen

import "time"

// SwitchRequest asks to move public traffic to another color.
type SwitchRequest struct {
	// To is the color to make live. For a rollback it is ignored: the target
	// is the state's Previous color.
	To Color `json:"color,omitempty"`
	// Force switches even when To fails its health check; the event records it.
	Force bool `json:"force,omitempty"`
	// Reason is free text recorded in the history.
	Reason string `json:"reason,omitempty"`
	// Actor says who asks; the API fills it from the caller.
	Actor string `json:"-"`
	// Automatic marks a rollback made by the post-switch watch; Details
	// are added to the recorded event. Neither comes from the API.
	Automatic bool           `json:"-"`
	Details   map[string]any `json:"-"`
	// ExpectFrom, when set, makes the operation a no-op conflict unless
	// ExpectFrom is live when it runs (the watch undoing its own switch).
	ExpectFrom Color `json:"-"`
	// Progress, when not nil, is told how the operation goes while it
	// runs: once when the new color is live (committed and on disk), then
	// during the drain. It is called from one goroutine at a time and
	// must not block.
	Progress func(SwitchProgress) `json:"-"`
}

// SwitchStage is how far a switch or rollback has gone, as reported to
// SwitchRequest.Progress.
type SwitchStage string

// Stages of a switch reported to SwitchRequest.Progress.
const (
	// SwitchLive: the switch is committed and on disk, the router serves
	// To; the old color drains next.
	SwitchLive SwitchStage = "live"
	// SwitchDraining: the old color still has requests in flight.
	SwitchDraining SwitchStage = "draining"
)

// SwitchProgress is one step of a switch or rollback as it runs.
type SwitchProgress struct {
	// Stage is SwitchLive or SwitchDraining.
	Stage SwitchStage `json:"stage"`
	From  Color       `json:"from"`
	To    Color       `json:"to"`
	// Revision is the state revision the switch committed.
	Revision int64 `json:"revision"`
	// SwitchMS is how long after the request the router served To.
	SwitchMS float64 `json:"switch_ms"`
	// InFlight is how many requests From still has in flight (draining).
	InFlight int64 `json:"in_flight"`
	// DrainMS is how long the drain has run so far (draining).
	DrainMS float64 `json:"drain_ms,omitempty"`
}

// SwitchResult reports a switch (or rollback) that was committed and carried
// out by the router.
type SwitchResult struct {
	From Color `json:"from"`
	To   Color `json:"to"`
	// Changed is false when To was already live (nothing was done).
	Changed bool `json:"changed"`
	// Forced is true when a gate (health, verification, approval) failed
	// and Force overrode it; ForcedGates says which.
	Forced      bool     `json:"forced,omitempty"`
	ForcedGates []string `json:"forced_gates,omitempty"`
	// Watch is the post-switch watch started by this switch, nil when none.
	Watch *Watch `json:"watch,omitempty"`
	// DNS says how the DNS record moved, nil when DNS is not switched.
	DNS *DNSReport `json:"dns,omitempty"`
	// Rollback is true for a rollback.
	Rollback bool `json:"rollback,omitempty"`
	// Revision is the committed state revision.
	Revision int64 `json:"revision"`
	// ReceivedAt is when the controller received the request; SwappedAt when
	// the router started sending new requests to To.
	ReceivedAt time.Time `json:"received_at"`
	SwappedAt  time.Time `json:"swapped_at,omitzero"`
	// SwitchMS is SwappedAt - ReceivedAt in milliseconds (includes the
	// health check and the commit).
	SwitchMS float64 `json:"switch_ms"`
	// CheckMS and CommitMS are the parts of SwitchMS spent on the fresh
	// health check of To and on committing the new state. The commit is
	// visible to every reader and safe from the server being killed before
	// the router swaps; where the store can do so (SQLite) the flush to
	// disk that makes it safe from a power cut too comes after the swap,
	// and SyncMS is how long that took. The result is only sent once the
	// commit is on disk.
	CheckMS  float64 `json:"check_ms"`
	CommitMS float64 `json:"commit_ms"`
	SyncMS   float64 `json:"sync_ms"`
	// Drain reports the old color's in-flight requests.
	Drain DrainReport `json:"drain"`
	// Routers says which serve instances took the new color, when several
	// share the state store (etcd); nil otherwise.
	Routers *RouterAcks `json:"routers,omitempty"`
	// Message is a one-line human summary.
	Message string `json:"message"`
}

// DrainReport says what happened to the requests that were in flight on the
// old color when the router swapped.
type DrainReport struct {
	// InFlight is how many requests were in flight on the old color at the swap.
	InFlight int64 `json:"in_flight"`
	// Finished is how many of them completed during the drain.
	Finished int64 `json:"finished"`
	// Cancelled is how many were still open at the deadline and were cut.
	Cancelled int64 `json:"cancelled"`
	// DurationMS is how long the drain took, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// TimeoutMS is the drain deadline that applied, in milliseconds.
	TimeoutMS float64 `json:"timeout_ms"`
}

// Status is the answer to "what is going on": the committed state plus live
// traffic figures from the router.
type Status struct {
	State   State                  `json:"state"`
	Traffic map[Color]TrafficStats `json:"traffic"`
	// DNS is what each authoritative server answers for the switched
	// record now, in DNS switch mode; DNSRecord names the record.
	DNS       []DNSAnswer `json:"dns,omitempty"`
	DNSRecord string      `json:"dns_record,omitempty"`
	// PreviewURL is where people reach the preview listener (the inactive
	// color), for QA: the configured preview_url, else the listener's.
	PreviewURL string `json:"preview_url,omitempty"`
	// Store says which state store the answering instance uses and since
	// when it cannot reach it, if it cannot; nil when not known.
	Store *StoreStatus `json:"store,omitempty"`
	// Instances lists the serve instances sharing the state store (etcd),
	// sorted by ID; empty for a store only one instance uses.
	Instances []Instance `json:"instances,omitempty"`
	// Now is the server's clock when the status was taken.
	Now time.Time `json:"now"`
}

// TrafficStats are one color's router figures since the server started.
type TrafficStats struct {
	Requests       int64 `json:"requests"`
	InFlight       int64 `json:"in_flight"`
	Status2xx      int64 `json:"status_2xx"`
	Status3xx      int64 `json:"status_3xx"`
	Status4xx      int64 `json:"status_4xx"`
	Status5xx      int64 `json:"status_5xx"`
	UpstreamErrors int64 `json:"upstream_errors"`
	// ClientErrors counts requests the router answered itself because of
	// the client (a refused method, a body too large, slow or malformed, a
	// client gone before the answer); they are in none of the other
	// counters and never count against the color.
	ClientErrors int64 `json:"client_errors"`
}

// Milliseconds converts d to fractional milliseconds for reports.
func Milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

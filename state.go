package bluegreen

import "time"

// State is the committed truth: which color is live, which one was live before,
// and what is known about each color. A State is a value: copy it, change the
// copy, and hand it to Store.Commit with the revision it was read at.
type State struct {
	// Revision increases by one with every committed change. Zero means "never
	// committed" (a fresh store).
	Revision int64 `json:"revision"`
	// Live is the color that serves public traffic.
	Live Color `json:"live"`
	// Previous is the color that was live before the last switch; empty until
	// the first switch. Rollback goes back to it.
	Previous Color `json:"previous,omitempty"`
	// PreviousDeployment is the deployment whose release was live in
	// Previous when the last switch moved traffic away from it; a rollback
	// may skip the release gates only while Previous still runs it.
	PreviousDeployment string `json:"previous_deployment,omitempty"`
	// Since is when Live became live.
	Since time.Time `json:"since"`
	// Colors holds the facts about each color, keyed by color.
	Colors map[Color]ColorState `json:"colors"`
	// Lock is the operation lock, nil when free. While it is held, other
	// deploys, switches and syncs are refused.
	Lock *Lock `json:"lock,omitempty"`
	// Watch is the post-switch watch in progress, nil when none.
	Watch *Watch `json:"watch,omitempty"`
	// DNSDrain, in DNS switch mode, says until when the previous color must
	// keep serving clients that still hold its DNS answer; nil otherwise.
	DNSDrain *DNSDrain `json:"dns_drain,omitempty"`
}

// Watch is a post-switch watch: Color became live at Started and is judged
// until Until; Previous is kept running for an instant rollback.
type Watch struct {
	Color    Color     `json:"color"`
	Previous Color     `json:"previous"`
	Started  time.Time `json:"started"`
	Until    time.Time `json:"until"`
	// Figures are the latest figures since Started (not persisted: they
	// are filled in by Status).
	Figures *WatchFigures `json:"figures,omitempty"`
}

// WatchFigures are a color's router figures over a watch so far.
type WatchFigures struct {
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors_5xx"`
	ErrorRatio float64 `json:"error_ratio"`
	// P99MS is the estimated 99th percentile latency in milliseconds; 0
	// when there were no requests.
	P99MS float64 `json:"p99_ms"`
	// Prometheus is the value the configured Prometheus query returned, nil
	// when none is configured or it could not be read.
	Prometheus *float64 `json:"prometheus,omitempty"`
}

// Lock says who holds the operation lock, since when, for what, and which
// controller instance holds it (so that a lock whose holder died is
// recognised instead of being eternal).
type Lock struct {
	Owner  string    `json:"owner"`
	What   string    `json:"what"`
	Since  time.Time `json:"since"`
	Holder string    `json:"holder"`
}

// Clone returns a deep copy of s that may be changed without touching s.
func (s State) Clone() State {
	c := s
	c.Colors = make(map[Color]ColorState, len(s.Colors))
	for k, v := range s.Colors {
		v.Upstreams = append([]string(nil), v.Upstreams...)
		if v.Release != nil {
			r := *v.Release
			v.Release = &r
		}
		if v.Verification != nil {
			x := *v.Verification
			x.Checks = append([]CheckResult(nil), x.Checks...)
			x.LiveChecks = append([]CheckResult(nil), x.LiveChecks...)
			v.Verification = &x
		}
		if v.Approval != nil {
			a := *v.Approval
			v.Approval = &a
		}
		if v.Deployment != nil {
			d := v.Deployment.Clone()
			v.Deployment = &d
		}
		c.Colors[k] = v
	}
	if s.Lock != nil {
		l := *s.Lock
		c.Lock = &l
	}
	if s.Watch != nil {
		w := *s.Watch
		c.Watch = &w
	}
	if s.DNSDrain != nil {
		d := *s.DNSDrain
		c.DNSDrain = &d
	}
	return c
}

// Inactive returns the color that is not live (the one a deploy targets).
func (s State) Inactive() Color { return s.Live.Other() }

// InUTC converts the state's times to UTC in place (dropping any monotonic
// clock reading): a Store calls it on what it commits, so that states are
// stored and returned in UTC.
func (s *State) InUTC() {
	s.Since = s.Since.UTC()
	for c, cs := range s.Colors {
		cs.Health.Since = cs.Health.Since.UTC()
		if cs.Release != nil {
			cs.Release.DeployedAt = cs.Release.DeployedAt.UTC()
		}
		s.Colors[c] = cs
	}
}

// ColorState is what is known about one color.
type ColorState struct {
	// Upstreams are the host:port addresses that serve this color.
	Upstreams []string `json:"upstreams"`
	// Branch is the git branch this color deploys from.
	Branch string `json:"branch,omitempty"`
	// Release is the release running in this color, nil when unknown.
	Release *Release `json:"release,omitempty"`
	// Health is the last health verdict about this color.
	Health Health `json:"health"`
	// Deployment is the last deployment into this color, nil when none.
	Deployment *Deployment `json:"deployment,omitempty"`
	// Verification is the last verification of this color, nil when none.
	// It is current only when its Deployment matches Release.Deployment.
	Verification *Verification `json:"verification,omitempty"`
	// Approval is the last approval of this color's release, nil when none;
	// current under the same rule.
	Approval *Approval `json:"approval,omitempty"`
}

// Verified reports whether the color's current release passed its
// verification. A color without a release deployed by bluegreen has nothing
// to verify against and reports false.
func (cs ColorState) Verified() bool {
	v := cs.Verification
	return cs.Release != nil && v != nil && v.Passed && v.Deployment == cs.Release.Deployment
}

// Approved reports whether the color's current release was approved.
func (cs ColorState) Approved() bool {
	a := cs.Approval
	return cs.Release != nil && a != nil && a.Deployment == cs.Release.Deployment
}

// Release identifies the code running in a color.
type Release struct {
	SHA        string    `json:"sha"`
	Ref        string    `json:"ref,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	Author     string    `json:"author,omitempty"`
	DeployedBy string    `json:"deployed_by,omitempty"`
	DeployedAt time.Time `json:"deployed_at"`
	// Deployment is the ID of the deployment that put it there.
	Deployment string `json:"deployment,omitempty"`
	// Dir is the release directory on the controller's machine.
	Dir string `json:"dir,omitempty"`
}

// HealthStatus is the verdict of a color's health check.
type HealthStatus string

// Health verdicts. A color starts Unknown until its first checks have run.
const (
	HealthUnknown   HealthStatus = "unknown"
	HealthHealthy   HealthStatus = "healthy"
	HealthUnhealthy HealthStatus = "unhealthy"
)

// Health is a color's health verdict with the reason for it.
type Health struct {
	Status HealthStatus `json:"status"`
	// Reason says why, e.g. "127.0.0.1:9001: GET /healthz: status 500, want 200".
	Reason string `json:"reason,omitempty"`
	// Since is when Status last changed; zero when it never did.
	Since time.Time `json:"since,omitzero"`
	// Hosts is the last probe of each host of a color that lists hosts,
	// in the order of its upstreams; nil for a color of plain upstreams
	// and before the first round. The slice is not changed once set: a
	// new round makes a new one.
	Hosts []HostHealth `json:"hosts,omitempty"`
}

// HostHealth is the last health probe of one upstream of a color.
type HostHealth struct {
	// Name is the host's name (config `hosts:`); "" for a plain upstream.
	Name string `json:"name,omitempty"`
	// Address is the host:port probed.
	Address string `json:"address"`
	// Healthy says the probe passed; Reason is its error otherwise ("" when
	// healthy).
	Healthy bool   `json:"healthy"`
	Reason  string `json:"reason,omitempty"`
	// Checked is when the probe finished.
	Checked time.Time `json:"checked"`
	// Agent is what serve knows of the host's agent, nil when the host has
	// none or it has not reported since this serve leads.
	Agent *AgentSeen `json:"agent,omitempty"`
}

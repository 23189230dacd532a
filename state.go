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
	// Since is when Live became live.
	Since time.Time `json:"since"`
	// Colors holds the facts about each color, keyed by color.
	Colors map[Color]ColorState `json:"colors"`
	// Lock is the operation lock, nil when free. While it is held, other
	// deploys, switches and syncs are refused.
	Lock *Lock `json:"lock,omitempty"`
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
		if v.Deployment != nil {
			d := *v.Deployment
			d.Steps = append([]StepResult(nil), d.Steps...)
			d.Output = append([]string(nil), d.Output...)
			v.Deployment = &d
		}
		c.Colors[k] = v
	}
	if s.Lock != nil {
		l := *s.Lock
		c.Lock = &l
	}
	return c
}

// Inactive returns the color that is not live (the one a deploy targets).
func (s State) Inactive() Color { return s.Live.Other() }

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
}

// Release identifies the code running in a color.
type Release struct {
	SHA        string    `json:"sha"`
	Ref        string    `json:"ref,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	Author     string    `json:"author,omitempty"`
	DeployedBy string    `json:"deployed_by,omitempty"`
	DeployedAt time.Time `json:"deployed_at"`
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
}

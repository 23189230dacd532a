package bluegreen

import "time"

// An agent (`bluegreen agent`) runs a color's app on one host of the
// color's `hosts:`. It has no inbound port: it calls serve (POST
// /v1/agent/{host}) every few seconds with an AgentReport of what it runs
// and does, and the answer, a HostInfo, carries a HostOrder while a
// deployment wants the host to run a new release.

// HostOrder is what serve asks a host's agent to run: the release of the
// deployment in progress, with everything the agent needs to build and
// start it. The agent fetches the release's archive (GET
// /v1/agent/{host}/release/{SHA}), unpacks it into a release directory of
// its own, runs Build there in order, stops the app it runs and starts Run
// with Env. An order names its deployment: an agent carries out each
// deployment's order once, and gives up the work when the order goes away
// before the app is stopped (the deployment ended elsewhere).
type HostOrder struct {
	// Deployment is the deployment's ID; Color, Ref and SHA what it deploys.
	Deployment string `json:"deployment"`
	Color      Color  `json:"color"`
	Ref        string `json:"ref"`
	SHA        string `json:"sha"`
	// Build are the build steps (shell command lines, run with /bin/sh -c
	// in the release directory), in order; none is fine.
	Build []string `json:"build,omitempty"`
	// Run is the app's shell command line.
	Run string `json:"run"`
	// Env is what serve adds to the agent's own basic environment (PATH,
	// HOME, ...) for the build steps and the app: the app's `env:`, then
	// BLUEGREEN_COLOR, BLUEGREEN_REF, BLUEGREEN_SHA, BLUEGREEN_DEPLOYMENT,
	// BLUEGREEN_HOST, BLUEGREEN_ADDRESS (the host's address, host:port) and
	// PORT (its port). It may hold secrets: an agent never logs it.
	Env []string `json:"env"`
	// StopGraceMS is the app's time between SIGTERM and SIGKILL.
	StopGraceMS int64 `json:"stop_grace_ms"`
	// KeepReleases is how many release directories the agent keeps.
	KeepReleases int `json:"keep_releases"`
	// Stop asks the agent to stop its app and run nothing (a host that
	// failed a deployment that still succeeded with min_healthy: it must
	// not serve its old release beside the new one); the release fields
	// are then empty, and the work ends AgentStopped.
	Stop bool `json:"stop,omitempty"`
}

// News reports whether the order o (nil: none) is news to an agent that
// reports rep: an order other than the one its work is on. A report with
// nothing new may be held by serve until the host's order changes (POST
// /v1/agent/{host}?wait=).
func (o *HostOrder) News(rep AgentReport) bool {
	return o != nil && (rep.Work == nil || rep.Work.Deployment != o.Deployment)
}

// AgentPhase is where an agent stands with its latest order.
type AgentPhase string

// Values of AgentWork.Phase. AgentStarted, AgentStopped and AgentFailed
// are final.
const (
	AgentFetching AgentPhase = "fetching" // downloading and unpacking the archive
	AgentBuilding AgentPhase = "building" // running the build steps (Step says which)
	AgentStarting AgentPhase = "starting" // stopping the old app, starting the new one
	AgentStarted  AgentPhase = "started"  // the new app runs (serve checks its health)
	AgentStopped  AgentPhase = "stopped"  // a Stop order: the app is stopped, nothing runs
	AgentFailed   AgentPhase = "failed"   // Error says why, Output has the last lines
)

// Final reports whether p is a phase the work never leaves.
func (p AgentPhase) Final() bool { return p == AgentStarted || p == AgentStopped || p == AgentFailed }

// AgentWork is how an agent's latest order goes.
type AgentWork struct {
	// Deployment is the order's deployment; SHA its release.
	Deployment string     `json:"deployment"`
	SHA        string     `json:"sha"`
	Phase      AgentPhase `json:"phase"`
	// Step names the build step running or failed ("build 1/2"), "" in
	// the other phases.
	Step string `json:"step,omitempty"`
	// Error says why the work failed.
	Error string `json:"error,omitempty"`
	// Output holds the last lines of the running or failed step's output.
	Output []string `json:"output,omitempty"`
}

// AgentReport is what an agent tells serve at each call.
type AgentReport struct {
	// Version is the agent's bluegreen version; PID its process ID.
	Version string `json:"version"`
	PID     int    `json:"pid"`
	// Release is the SHA of the release the agent's app runs, Deployment
	// the deployment it came from; both "" when it runs none.
	Release    string `json:"release,omitempty"`
	Deployment string `json:"deployment,omitempty"`
	// AppPID is the app's process ID, 0 when it is not running (between
	// restarts, or none); Supervised says a supervisor runs it.
	AppPID     int  `json:"app_pid,omitempty"`
	Supervised bool `json:"supervised"`
	// Work is the latest order's progress, nil before the first one.
	Work *AgentWork `json:"work,omitempty"`
	// Log holds the app's last lines of output (up to AgentLogLines).
	Log []string `json:"log,omitempty"`
}

// AgentLogLines is the most lines of app output an AgentReport carries.
const AgentLogLines = 200

// AgentSeen is what serve knows of a host's agent: its last report and
// when it came. It is kept in the memory of the leading serve; a serve
// that just started knows an agent from its first report on.
type AgentSeen struct {
	Report   AgentReport `json:"report"`
	LastSeen time.Time   `json:"last_seen"`
}

// HostRolloutStatus is how a deployment stands on one host.
type HostRolloutStatus string

// Values of HostRollout.Status.
const (
	HostPending   HostRolloutStatus = "pending"   // not asked yet (max_parallel)
	HostDeploying HostRolloutStatus = "deploying" // its agent has the order
	HostOK        HostRolloutStatus = "ok"        // the new release runs and passed its health check
	HostFailed    HostRolloutStatus = "failed"    // Error says why
	HostSkipped   HostRolloutStatus = "skipped"   // never asked: the deployment had failed already
)

// HostRollout is one host's part of a deployment into a color of hosts.
type HostRollout struct {
	Host   string            `json:"host"`
	Status HostRolloutStatus `json:"status"`
	// Phase is the agent's last reported phase for this deployment.
	Phase AgentPhase `json:"phase,omitempty"`
	Step  string     `json:"step,omitempty"`
	// Error says why the host failed; Output holds its last lines.
	Error  string   `json:"error,omitempty"`
	Output []string `json:"output,omitempty"`
	// DurationMS is how long the host took, from its order to its end.
	DurationMS int64 `json:"duration_ms,omitempty"`
}

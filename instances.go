package bluegreen

import "time"

// This file holds what several serve instances sharing one state store
// (etcd) report about themselves: status lists the instances and the
// store's reachability, and a switch says which routers took the new color.

// Instance roles, as Instance.Role gives them: one leader runs the
// controller; the followers route traffic, answer reads and forward the
// rest to the leader.
const (
	RoleLeader   = "leader"
	RoleFollower = "follower"
)

// Instance is one serve instance sharing the state store, as Status lists
// it.
type Instance struct {
	// ID names the instance (cluster.id); Address is its API, where the
	// other instances forward calls.
	ID      string `json:"id"`
	Address string `json:"address"`
	// Role is RoleLeader or RoleFollower.
	Role string `json:"role"`
	// Color is the live color its router serves ("" before it first took
	// one), Revision the state revision it has taken.
	Color    Color `json:"color,omitempty"`
	Revision int64 `json:"revision"`
	// Heartbeat is when it last wrote its record to the store.
	Heartbeat time.Time `json:"heartbeat"`
	// Self marks the instance that answered the status call.
	Self bool `json:"self,omitempty"`
}

// StoreStatus says which state store an instance uses and whether it can
// reach it.
type StoreStatus struct {
	// Kind is "sqlite" or "etcd"; Where the state directory or the etcd
	// URL (endpoints and prefix, never credentials).
	Kind  string `json:"kind"`
	Where string `json:"where"`
	// UnreachableSince is when the instance last found the store
	// unreachable without reaching it since, nil while it is reachable;
	// Error is that failure.
	UnreachableSince *time.Time `json:"unreachable_since,omitempty"`
	Error            string     `json:"error,omitempty"`
}

// RouterAcks says which routers serve a switch's new color: every live
// instance acknowledges the revision it took (its router swapped), and a
// switch waits for them up to a deadline.
type RouterAcks struct {
	// Acked and Missing are instance IDs, sorted: those that serve the new
	// color, and those that did not say so before the deadline.
	Acked   []string `json:"acked"`
	Missing []string `json:"missing,omitempty"`
	// SpreadMS is the time between the first and the last acknowledged
	// router starting to serve the new color, by their own clocks; WaitMS
	// how long the switch waited for the acknowledgements.
	SpreadMS float64 `json:"spread_ms"`
	WaitMS   float64 `json:"wait_ms"`
}

package bluegreen

import "time"

// DNSReport says how a switch moved the DNS record (switch mode dns or
// both).
type DNSReport struct {
	// Name and Type identify the record; Old and New are its values before
	// and after.
	Name string   `json:"name"`
	Type string   `json:"type"`
	Old  []string `json:"old"`
	New  []string `json:"new"`
	// Changed is false when the record already held the new values.
	Changed bool `json:"changed"`
	// OldTTLSeconds is the TTL caches may keep the old values for;
	// TTLSeconds the record's TTL now.
	OldTTLSeconds float64 `json:"old_ttl_seconds"`
	TTLSeconds    float64 `json:"ttl_seconds"`
	// PropagationMS is how long it took until every authoritative server
	// answered the new values; 0 with Propagated false when some never did
	// within the timeout.
	PropagationMS float64 `json:"propagation_ms"`
	Propagated    bool    `json:"propagated"`
	// Servers are the authoritative servers' answers.
	Servers []DNSAnswer `json:"servers"`
	// DrainUntil is until when the old color must keep serving: clients
	// may hold the old answer for the old TTL after the last server
	// changed, plus a margin.
	DrainUntil time.Time `json:"drain_until,omitzero"`
	// Warning says what did not go to plan although the update stands
	// (a server that did not answer the new values in time).
	Warning string `json:"warning,omitempty"`
}

// DNSAnswer is what one authoritative server answers for the record.
type DNSAnswer struct {
	Server string   `json:"server"`
	Values []string `json:"values"`
	// Color is whose values they are; "" for neither.
	Color      Color   `json:"color,omitempty"`
	TTLSeconds float64 `json:"ttl_seconds"`
	// AfterMS is how long after the update it first answered the new
	// values (in a switch report).
	AfterMS float64 `json:"after_ms,omitempty"`
	Error   string  `json:"error,omitempty"`
}

// DNSDrain says that Color, the color DNS pointed at before the last
// switch, must keep serving until Until: resolvers may still hand out its
// address.
type DNSDrain struct {
	Color Color     `json:"color"`
	Until time.Time `json:"until"`
}

// DNSPrepareReport says how `dns prepare` lowered the record's TTL.
type DNSPrepareReport struct {
	Name          string      `json:"name"`
	Color         Color       `json:"color"`
	OldTTLSeconds float64     `json:"old_ttl_seconds"`
	TTLSeconds    float64     `json:"ttl_seconds"`
	Changed       bool        `json:"changed"`
	Servers       []DNSAnswer `json:"servers"`
	// ReadyAt is when no cache holds the old, longer TTL any more.
	ReadyAt time.Time `json:"ready_at,omitzero"`
}

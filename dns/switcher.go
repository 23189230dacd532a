package dns

import (
	"context"
	"net"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Defaults for Config's zero values.
const (
	// DefaultPropagationTimeout is how long Switch and Prepare wait for all
	// authoritative servers to answer the new values. A secondary learns of
	// a change by NOTIFY within seconds; one that missed it waits for the
	// zone's SOA refresh, which this does not cover.
	DefaultPropagationTimeout = time.Minute
	// DefaultPollInterval is the pause between two queries to a server that
	// does not answer the new values yet.
	DefaultPollInterval = 100 * time.Millisecond
	// DefaultDrainMargin is added to the old TTL in Report.DrainUntil: the
	// old color keeps serving for the old TTL after the last authoritative
	// server answered the new values, plus this margin for clocks, for
	// resolvers that round TTLs up and for requests that started just
	// before their client's cache expired.
	DefaultDrainMargin = 10 * time.Second
)

// Resolver finds a zone's authoritative servers when none are configured.
// *net.Resolver implements it.
type Resolver interface {
	LookupNS(ctx context.Context, name string) ([]*net.NS, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Config configures a Switcher.
type Config struct {
	// Record is the record to switch; New normalizes it (Record.Normalize).
	Record Record
	// Provider reads and changes the record.
	Provider Provider
	// Servers are the authoritative servers the propagation check asks
	// directly, as "host:port". When empty, they are the zone's NS records
	// (found through Resolver) on port 53, looked up at every check.
	Servers []string
	// Resolver finds the NS records when Servers is empty; nil means
	// net.DefaultResolver.
	Resolver Resolver
	// PropagationTimeout, PollInterval and DrainMargin default to
	// DefaultPropagationTimeout, DefaultPollInterval and
	// DefaultDrainMargin; QueryTimeout (one query to one server) to
	// DefaultQueryTimeout.
	PropagationTimeout time.Duration
	PollInterval       time.Duration
	DrainMargin        time.Duration
	QueryTimeout       time.Duration
	// Now returns the current time; nil means time.Now. Report times use
	// it; it is called from several goroutines at once.
	Now func() time.Time
}

// Switcher moves a DNS record between the colors safely: it changes the
// record only if it holds the color believed live (atomically where the
// provider can), then checks that every authoritative server answers the new
// values, and works out how long the old color must keep serving (the TTL
// plan). It is safe for concurrent use, but two concurrent switches of the
// same record are the caller's mistake: the second is refused (the record no
// longer holds its `from`).
type Switcher struct {
	rec      Record
	provider Provider
	servers  []string
	resolver Resolver
	timeout  time.Duration
	poll     time.Duration
	margin   time.Duration
	qtimeout time.Duration
	now      func() time.Time
}

// New checks cfg and returns a Switcher. It returns an EINVALID
// *bluegreen.Error naming the first problem (record, servers, durations).
func New(cfg Config) (*Switcher, error) {
	rec, err := cfg.Record.Normalize()
	if err != nil {
		return nil, err
	}
	if cfg.Provider == nil {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "dns: %s %s has no provider", rec.Name, rec.Type)
	}
	s := &Switcher{
		rec:      rec,
		provider: cfg.Provider,
		resolver: cfg.Resolver,
		timeout:  orDefault(cfg.PropagationTimeout, DefaultPropagationTimeout),
		poll:     orDefault(cfg.PollInterval, DefaultPollInterval),
		margin:   orDefault(cfg.DrainMargin, DefaultDrainMargin),
		qtimeout: orDefault(cfg.QueryTimeout, DefaultQueryTimeout),
		now:      cfg.Now,
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"propagation timeout", cfg.PropagationTimeout}, {"poll interval", cfg.PollInterval}, {"drain margin", cfg.DrainMargin}, {"query timeout", cfg.QueryTimeout}} {
		if d.v < 0 {
			return nil, bluegreen.Errorf(bluegreen.EINVALID, "dns: %s %v is negative", d.name, d.v)
		}
	}
	for _, a := range cfg.Servers {
		addr, err := serverAddr(a)
		if err != nil {
			return nil, err
		}
		s.servers = append(s.servers, addr)
	}
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Record returns the normalized record the Switcher works on.
func (s *Switcher) Record() Record { return s.rec }

// Holding is what the record holds at the provider.
type Holding struct {
	Values []string      `json:"values"`
	TTL    time.Duration `json:"ttl"`
	// Color is the color whose values the record holds, "" for neither.
	Color bluegreen.Color `json:"color,omitempty"`
}

// Current asks the provider what the record holds now and which color that
// is. Holding.Color is "" when the record holds neither color's values (it
// was changed by hand, or does not exist): that is not an error.
func (s *Switcher) Current(ctx context.Context) (Holding, error) {
	vals, ttl, err := s.provider.Current(ctx, s.rec)
	if err != nil {
		return Holding{}, err
	}
	vals = canonicalSet(s.rec.Type, vals)
	return Holding{Values: vals, TTL: ttl, Color: s.rec.ColorOf(vals)}, nil
}

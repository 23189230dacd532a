package dns_test

import (
	"slices"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/dns"
	"github.com/bluegreen/bluegreen/internal/bindtest"
)

// appRecord is the CNAME of bindtest's default zone.
func appRecord() dns.Record {
	return dns.Record{
		Zone: "example.test.",
		Name: "app.example.test.",
		Type: "CNAME",
		TTL:  60 * time.Second,
		Values: map[bluegreen.Color][]string{
			bluegreen.Blue:  {"blue.example.test."},
			bluegreen.Green: {"green.example.test."},
		},
	}
}

// webRecord is the A record of bindtest's default zone, two addresses per
// color.
func webRecord() dns.Record {
	return dns.Record{
		Zone: "example.test.",
		Name: "web.example.test.",
		Type: "A",
		TTL:  60 * time.Second,
		Values: map[bluegreen.Color][]string{
			bluegreen.Blue:  {"192.0.2.2", "192.0.2.1"},
			bluegreen.Green: {"192.0.2.3", "192.0.2.4"},
		},
	}
}

// provider returns an RFC2136 provider for srv's primary with its key, or
// with the secret replaced when secret is not "".
func provider(t *testing.T, srv *bindtest.Server, secret string) *dns.RFC2136 {
	t.Helper()
	key := dns.TSIGKey{Name: srv.KeyName, Algorithm: srv.Algorithm, Secret: bluegreen.Secret(srv.Secret)}
	if secret != "" {
		key.Secret = bluegreen.Secret(secret)
	}
	p, err := dns.NewRFC2136(dns.RFC2136Config{Server: srv.Primary.Addr, Key: key, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("NewRFC2136: %v", err)
	}
	return p
}

// switcher returns a Switcher for rec through p, checking srv's servers,
// with a short poll interval and the given propagation timeout.
func switcher(t *testing.T, srv *bindtest.Server, rec dns.Record, p dns.Provider, timeout time.Duration) *dns.Switcher {
	t.Helper()
	s, err := dns.New(dns.Config{
		Record:             rec,
		Provider:           p,
		Servers:            srv.Addrs(),
		PropagationTimeout: timeout,
		PollInterval:       20 * time.Millisecond,
		QueryTimeout:       500 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("dns.New: %v", err)
	}
	return s
}

// wantEverywhere fails unless every running server of srv answers want for
// name and typ now.
func wantEverywhere(t *testing.T, srv *bindtest.Server, name, typ string, want ...string) {
	t.Helper()
	slices.Sort(want)
	for _, n := range srv.Servers() {
		if !n.Running() {
			continue
		}
		if got := n.Values(t, name, typ); !slices.Equal(got, want) {
			t.Errorf("%s %s answers %s %s %v, want %v", n.Role, n.Addr, name, typ, got, want)
		}
	}
}

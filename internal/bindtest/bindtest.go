// Package bindtest starts real BIND (named) servers for tests: a primary that
// accepts RFC 2136 updates signed with one TSIG key, and a secondary that
// transfers the zone from it (NOTIFY + IXFR/AXFR), both on 127.0.0.1 on free
// high ports, each a child process of the test with its own directory under
// t.TempDir(), stopped by PID when the test ends.
//
// It needs only the named binary (Debian: apt-get install bind9); queries and
// updates go through github.com/miekg/dns, not dig or nsupdate. When named is
// missing the test is skipped, or failed under BLUEGREEN_REQUIRE_ALL=1 (as
// .ci/run sets it; see internal/testenv): a CI that forgot to install bind9
// must not pass quietly. On a machine where AppArmor
// confines /usr/sbin/named to /etc/bind and /var/lib/bind, point
// $BINDTEST_NAMED at a copy of the binary (or put the profile in complain
// mode): the servers keep their files under the test's temporary directory.
//
// named runs as the user running the test (no -u): as root it keeps root,
// and the files it writes stay in directories the test owns.
package bindtest

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// DefaultZone is the zone Start serves when Options.Zone is empty.
const DefaultZone = "example.test."

// DefaultKeyName is the TSIG key name Start uses when Options.KeyName is empty.
const DefaultKeyName = "bluegreen-key."

// DefaultRecords are the zone's records (zone-file lines relative to the
// zone, after SOA and NS) when Options.Records is nil:
//
//   - app: a CNAME to blue, the colors' targets blue/green/other (A).
//   - web: two A addresses per color (blue 192.0.2.1-2, green 192.0.2.3-4).
//   - web6: one AAAA address per color (blue 2001:db8::1, green 2001:db8::2).
//   - locked: a CNAME to blue that the key may NOT update (policy test).
var DefaultRecords = []string{
	"app    300 IN CNAME blue",
	"blue   300 IN A     127.0.0.2",
	"green  300 IN A     127.0.0.3",
	"other  300 IN A     127.0.0.4",
	"web    300 IN A     192.0.2.1",
	"web    300 IN A     192.0.2.2",
	"web6   300 IN AAAA  2001:db8::1",
	"locked 300 IN CNAME blue",
}

// Options configures Start. The zero value serves DefaultZone with
// DefaultRecords, a primary and a secondary, and one hmac-sha256 key.
type Options struct {
	// Zone is the zone's name (FQDN with trailing dot); default DefaultZone.
	Zone string
	// Records are zone-file lines, relative to Zone; default DefaultRecords.
	// SOA, NS (ns1, ns2) and their A records (127.0.0.1) are always added.
	Records []string
	// KeyName and Algorithm name the TSIG key; defaults DefaultKeyName and
	// "hmac-sha256" (BIND also takes hmac-sha1, hmac-sha224, hmac-sha384,
	// hmac-sha512). The secret is random for each Start.
	KeyName   string
	Algorithm string
	// UpdatePolicy is the body of the primary zone's update-policy block;
	// %KEY% is replaced with the key name. The default lets the key change
	// CNAME, A and AAAA records of app, web and web6 (not locked).
	UpdatePolicy string
	// NoSecondary starts the primary alone.
	NoSecondary bool
}

// Server is a primary named and (unless Options.NoSecondary) a secondary
// transferring the zone from it. Both are stopped at the end of the test.
type Server struct {
	// Zone is the served zone (FQDN, trailing dot).
	Zone string
	// KeyName, Algorithm and Secret (base64) are the TSIG key the primary
	// accepts updates with. Algorithm is BIND's name, e.g. "hmac-sha256".
	KeyName, Algorithm, Secret string
	// Primary takes updates; Secondary (nil with NoSecondary) gets NOTIFY
	// from it and transfers the zone.
	Primary, Secondary *Named
}

// Addrs returns the servers' "127.0.0.1:port" addresses, primary first.
func (s *Server) Addrs() []string {
	addrs := []string{s.Primary.Addr}
	if s.Secondary != nil {
		addrs = append(addrs, s.Secondary.Addr)
	}
	return addrs
}

// Servers returns the servers (running or stopped), primary first.
func (s *Server) Servers() []*Named {
	ns := []*Named{s.Primary}
	if s.Secondary != nil {
		ns = append(ns, s.Secondary)
	}
	return ns
}

// Start starts the servers described by opts and registers their stop with
// t.Cleanup. It returns when both answer the zone's SOA authoritatively (the
// secondary after its first transfer). It fails the test when they cannot be
// started, and skips it when named is not installed (fails under $CI).
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := namedBinary(t)
	if opts.Zone == "" {
		opts.Zone = DefaultZone
	}
	opts.Zone = dns.CanonicalName(opts.Zone)
	if opts.Records == nil {
		opts.Records = DefaultRecords
	}
	if opts.KeyName == "" {
		opts.KeyName = DefaultKeyName
	}
	opts.KeyName = dns.CanonicalName(opts.KeyName)
	if opts.Algorithm == "" {
		opts.Algorithm = "hmac-sha256"
	}
	if opts.UpdatePolicy == "" {
		opts.UpdatePolicy = fmt.Sprintf("grant %%KEY%% name app.%[1]s CNAME A AAAA; grant %%KEY%% name web.%[1]s A AAAA; grant %%KEY%% name web6.%[1]s A AAAA;", opts.Zone)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	s := &Server{
		Zone:      opts.Zone,
		KeyName:   opts.KeyName,
		Algorithm: strings.TrimSuffix(strings.ToLower(opts.Algorithm), "."),
		Secret:    base64.StdEncoding.EncodeToString(raw),
	}
	base := t.TempDir()
	for attempt := 1; ; attempt++ {
		err := s.start(bin, base, attempt, opts)
		if err == nil {
			break
		}
		if errors.Is(err, errPortInUse) && attempt < 5 {
			continue // someone took a port between our check and named's bind
		}
		t.Fatalf("bindtest: %v", err)
	}
	t.Cleanup(func() {
		for _, n := range s.Servers() {
			n.Stop()
		}
	})
	return s
}

// start starts the pair once, on fresh ports, in base/<attempt>/.
func (s *Server) start(bin, base string, attempt int, opts Options) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	pport, sport := ports[0], ports[1]
	if opts.NoSecondary {
		sport = 0
	}
	dir := filepath.Join(base, fmt.Sprint(attempt))
	pdir, ptoken := filepath.Join(dir, "primary"), randToken()
	primary, err := startNamed("primary", bin, pdir, pport, ptoken,
		s.primaryConf(pdir, pport, ptoken, sport, opts),
		map[string]string{"zone.db": zoneText(opts.Zone, opts.Records)}, opts.Zone)
	if err != nil {
		return err
	}
	s.Primary = primary
	if opts.NoSecondary {
		return nil
	}
	sdir, stoken := filepath.Join(dir, "secondary"), randToken()
	secondary, err := startNamed("secondary", bin, sdir, sport, stoken,
		secondaryConf(sdir, sport, stoken, pport, opts.Zone), nil, opts.Zone)
	if err != nil {
		primary.Stop()
		s.Primary = nil
		return err
	}
	s.Secondary = secondary
	return nil
}

func randToken() string {
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("bindtest-%x", b)
}

// commonOptions is the options block both servers share: loopback only, no
// recursion, no DNSSEC validation, no control channel (no rndc), no
// SO_REUSEPORT (so a port clash shows as "address in use" in the log instead
// of two servers sharing the port), NOTIFY only to also-notify addresses.
func commonOptions(dir string, port int, token string) string {
	return fmt.Sprintf(`options {
	directory %[1]q;
	pid-file %[4]q;
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	version %[3]q;
	session-keyfile none;
	reuseport no;
	notify explicit;
};
controls { };
`, dir, port, token, filepath.Join(dir, "named.pid"))
}

// primaryConf declares the TSIG key, the zone with its update-policy, zone
// transfers allowed to loopback, and NOTIFY to the secondary's port
// (notify-delay 0: tests measure propagation, not BIND's batching).
func (s *Server) primaryConf(dir string, port int, token string, secondaryPort int, opts Options) string {
	var b strings.Builder
	b.WriteString(commonOptions(dir, port, token))
	fmt.Fprintf(&b, "key %q {\n\talgorithm %s;\n\tsecret %q;\n};\n", s.KeyName, s.Algorithm, s.Secret)
	fmt.Fprintf(&b, "zone %q {\n\ttype primary;\n\tfile \"zone.db\";\n", opts.Zone)
	fmt.Fprintf(&b, "\tupdate-policy { %s };\n", strings.ReplaceAll(opts.UpdatePolicy, "%KEY%", s.KeyName))
	b.WriteString("\tallow-transfer { 127.0.0.1; };\n")
	if secondaryPort != 0 {
		fmt.Fprintf(&b, "\talso-notify { 127.0.0.1 port %d; };\n\tnotify-delay 0;\n", secondaryPort)
	}
	b.WriteString("};\n")
	return b.String()
}

// secondaryConf declares the zone as a secondary of 127.0.0.1:primaryPort;
// it accepts NOTIFY from that address (BIND's default for its primaries).
func secondaryConf(dir string, port int, token string, primaryPort int, zone string) string {
	return commonOptions(dir, port, token) + fmt.Sprintf(`zone %q {
	type secondary;
	file "zone.bak";
	primaries { 127.0.0.1 port %d; };
};
`, zone, primaryPort)
}

// zoneText is the primary's zone file: SOA with a short refresh (60s) and
// retry (10s), so a secondary that missed a NOTIFY catches up within a
// minute, two NS names on 127.0.0.1, then the given records.
func zoneText(zone string, records []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 300\n", zone)
	b.WriteString("@ IN SOA ns1 hostmaster 1 60 10 3600 30\n")
	b.WriteString("@ IN NS ns1\n@ IN NS ns2\nns1 IN A 127.0.0.1\nns2 IN A 127.0.0.1\n")
	for _, r := range records {
		b.WriteString(r)
		b.WriteByte('\n')
	}
	return b.String()
}

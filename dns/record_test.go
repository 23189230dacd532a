package dns_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/dns"
)

func TestNormalizeCanonicalizes(t *testing.T) {
	r := dns.Record{
		Zone: "Example.TEST", Name: "App.example.test", Type: "aaaa", TTL: time.Minute,
		Values: map[bluegreen.Color][]string{
			bluegreen.Blue:  {"2001:DB8:0:0::2", "2001:db8::1"},
			bluegreen.Green: {" 2001:db8::3 "},
		},
	}
	n, err := r.Normalize()
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	if n.Zone != "example.test." || n.Name != "app.example.test." || n.Type != "AAAA" {
		t.Errorf("normalized %q %q %q", n.Zone, n.Name, n.Type)
	}
	if !slices.Equal(n.Values[bluegreen.Blue], []string{"2001:db8::1", "2001:db8::2"}) || !slices.Equal(n.Values[bluegreen.Green], []string{"2001:db8::3"}) {
		t.Errorf("normalized values %v", n.Values)
	}
	if c := n.ColorOf([]string{"2001:db8::1", "2001:db8::2"}); c != bluegreen.Blue {
		t.Errorf("ColorOf(blue's values) = %q", c)
	}
	if c := n.ColorOf([]string{"2001:db8::1"}); c != "" {
		t.Errorf("ColorOf(a subset) = %q, want none", c)
	}
	cname, err := appRecord().Normalize()
	if err != nil || cname.Values[bluegreen.Green][0] != "green.example.test." {
		t.Errorf("CNAME record: %v %v", cname.Values, err)
	}
}

func TestNormalizeRejects(t *testing.T) {
	// blueGreen gives blue its first value and green the rest.
	blueGreen := func(b string, g ...string) map[bluegreen.Color][]string {
		return map[bluegreen.Color][]string{bluegreen.Blue: {b}, bluegreen.Green: g}
	}
	for _, tc := range []struct {
		name string
		edit func(*dns.Record)
		want string
	}{
		{"no zone", func(r *dns.Record) { r.Zone = "" }, `zone "" is not a domain name`},
		{"name outside zone", func(r *dns.Record) { r.Name = "app.other.test." }, "app.other.test. is not inside zone example.test."},
		{"type", func(r *dns.Record) { r.Type = "TXT" }, `record type "TXT" is not supported: want CNAME, A or AAAA`},
		{"apex CNAME", func(r *dns.Record) { r.Name = "example.test." }, "zone apex, which cannot hold a CNAME"},
		{"zero TTL", func(r *dns.Record) { r.TTL = 0 }, "TTL 0s is invalid: want whole seconds"},
		{"fractional TTL", func(r *dns.Record) { r.TTL = 1500 * time.Millisecond }, "TTL 1.5s is invalid"},
		{"missing green", func(r *dns.Record) { r.Values = blueGreen("b.example.test.") }, "for green: no value: want one target name"},
		{"two targets", func(r *dns.Record) { r.Values = blueGreen("c.", "a.example.test.", "b.example.test.") }, `2 targets "a.example.test.", "b.example.test.": a CNAME has exactly one`},
		{"same for both", func(r *dns.Record) { r.Values = blueGreen("a.example.test", "A.example.test.") }, "holds the same \"a.example.test.\" for blue and green"},
		{"v6 in A", func(r *dns.Record) { r.Type = "A"; r.Values = blueGreen("2001:db8::1", "192.0.2.1") }, `"2001:db8::1" is not an IPv4 address`},
		{"v4 in AAAA", func(r *dns.Record) { r.Type = "AAAA"; r.Values = blueGreen("2001:db8::1", "192.0.2.1") }, `for green: "192.0.2.1" is not an IPv6 address`},
		{"not an address", func(r *dns.Record) { r.Type = "A"; r.Values = blueGreen("192.0.2.1", "web1") }, `"web1" is not an IP address`},
		{"duplicate", func(r *dns.Record) { r.Type = "A"; r.Values = blueGreen("192.0.2.1", "192.0.2.2", "192.0.2.2") }, `"192.0.2.2" is listed twice`},
		{"unknown color", func(r *dns.Record) { r.Values["red"] = []string{"r.example.test."} }, `values for unknown color "red"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := appRecord()
			tc.edit(&r)
			_, err := r.Normalize()
			wantErr(t, err, bluegreen.EINVALID, tc.want)
		})
	}
}

func TestNewChecksItsConfig(t *testing.T) {
	p, err := dns.NewRFC2136(dns.RFC2136Config{Server: "127.0.0.1", Key: dns.TSIGKey{Name: "k", Secret: "c2VjcmV0"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dns.New(dns.Config{Record: appRecord()}); err == nil || !strings.Contains(err.Error(), "has no provider") {
		t.Errorf("New without provider: %v", err)
	}
	if _, err := dns.New(dns.Config{Record: appRecord(), Provider: p, Servers: []string{"ns1:abc"}}); err == nil {
		t.Error("New accepted server ns1:abc")
	}
	if _, err := dns.New(dns.Config{Record: appRecord(), Provider: p, PropagationTimeout: -time.Second}); err == nil {
		t.Error("New accepted a negative timeout")
	}
	s, err := dns.New(dns.Config{Record: appRecord(), Provider: p, Servers: []string{"ns1.example.test", "127.0.0.1:5353", "::1"}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if s.Record().Name != "app.example.test." {
		t.Errorf("Record() = %+v", s.Record())
	}
}

func TestNewRFC2136Checks(t *testing.T) {
	good := dns.TSIGKey{Name: "bluegreen-key", Secret: "c2VjcmV0"}
	for _, tc := range []struct {
		name string
		cfg  dns.RFC2136Config
		want string
	}{
		{"no server", dns.RFC2136Config{Key: good}, "no server address"},
		{"bad port", dns.RFC2136Config{Server: "ns1:99999", Key: good}, "invalid port"},
		{"no key name", dns.RFC2136Config{Server: "ns1", Key: dns.TSIGKey{Secret: "c2VjcmV0"}}, "TSIG key name \"\" is not a domain name"},
		{"algorithm", dns.RFC2136Config{Server: "ns1", Key: dns.TSIGKey{Name: "k", Algorithm: "hmac-md5", Secret: "c2VjcmV0"}}, `algorithm "hmac-md5" is not supported`},
		{"no secret", dns.RFC2136Config{Server: "ns1", Key: dns.TSIGKey{Name: "k"}}, "TSIG key k. has no secret"},
		{"not base64", dns.RFC2136Config{Server: "ns1", Key: dns.TSIGKey{Name: "k", Secret: "hunter2!!"}}, "the secret is not valid base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dns.NewRFC2136(tc.cfg)
			wantErr(t, err, bluegreen.EINVALID, tc.want)
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
	for _, alg := range []string{"", "hmac-sha256", "HMAC-SHA512.", "hmac-sha1", "hmac-sha384", "hmac-sha224"} {
		if _, err := dns.NewRFC2136(dns.RFC2136Config{Server: "ns1", Key: dns.TSIGKey{Name: "k", Algorithm: alg, Secret: "c2VjcmV0"}}); err != nil {
			t.Errorf("algorithm %q: %v", alg, err)
		}
	}
}

// TestSecretsNeverPrint: a Secret, a TSIGKey holding one and the provider
// print, log and marshal without the secret, whatever the verb.
func TestSecretsNeverPrint(t *testing.T) {
	const secret = "c3VwZXItc2VjcmV0LXZhbHVl"
	key := dns.TSIGKey{Name: "bluegreen-key.", Algorithm: "hmac-sha512", Secret: secret}
	cfg := dns.RFC2136Config{Server: "127.0.0.1:53", Key: key}
	p, err := dns.NewRFC2136(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range []any{key.Secret, key, cfg, p} {
		for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x", "%d"} {
			out = append(out, fmt.Sprintf(verb, v))
		}
		b, _ := json.Marshal(v)
		out = append(out, string(b))
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "key", key, "secret", key.Secret, "cfg", cfg)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "key", key, "secret", key.Secret, "cfg", cfg)
	out = append(out, logged.String())
	hexSecret := fmt.Sprintf("%x", secret)
	for _, s := range out {
		if strings.Contains(s, secret) || strings.Contains(s, hexSecret) {
			t.Errorf("output shows the secret: %s", s)
		}
	}
	if got := key.String(); got != "TSIG key bluegreen-key. (hmac-sha512)" {
		t.Errorf("TSIGKey.String() = %q", got)
	}
	if key.Secret.Reveal() != secret {
		t.Error("Reveal does not return the secret")
	}
}

func TestMismatchMessages(t *testing.T) {
	colors := map[bluegreen.Color][]string{bluegreen.Blue: {"b."}, bluegreen.Green: {"g."}}
	for _, tc := range []struct {
		e    dns.MismatchError
		want string
	}{
		{dns.MismatchError{Name: "n.", Type: "CNAME", Want: []string{"b."}, Holds: []string{"x."}},
			`n. CNAME holds "x." where "b." was expected`},
		{dns.MismatchError{Name: "n.", Type: "CNAME", Want: []string{"b."}, Holds: nil, Colors: colors, Action: "switch"},
			`n. CNAME holds nothing (no such record), which is neither blue ("b.") nor green ("g."): deleted by hand? refusing to switch`},
		{dns.MismatchError{Name: "n.", Type: "CNAME", Want: []string{"b."}, Holds: []string{"G."}, Colors: colors, Action: "change the TTL"},
			`n. CNAME holds green ("G.") where blue ("b.") was expected: changed concurrently? refusing to change the TTL`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("message\n got %s\nwant %s", got, tc.want)
		}
		if bluegreen.ErrorCode(&tc.e) != bluegreen.EREFUSED || bluegreen.ErrorMessage(&tc.e) != tc.want {
			t.Errorf("domain error: %q %q", bluegreen.ErrorCode(&tc.e), bluegreen.ErrorMessage(&tc.e))
		}
	}
}

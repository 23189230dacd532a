package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libdns/cloudflare"
	"github.com/libdns/libdns"
	"github.com/libdns/route53"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/dns"
)

var _ dns.RRsetAPI = (*Provider)(nil)

func TestCloudflareSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  CloudflareConfig
		want string // "" for success
	}{
		{"no token", CloudflareConfig{}, "cloudflare: api_token is missing"},
		{"blank token", CloudflareConfig{APIToken: " \n"}, "cloudflare: api_token is missing"},
		{"two words", CloudflareConfig{APIToken: "tok-en1 tok-en2"}, "cloudflare: api_token contains whitespace"},
		{"bad zone token", CloudflareConfig{APIToken: "tok-en1", ZoneToken: "zone tok"}, "cloudflare: zone_token contains whitespace"},
		{"token from a file", CloudflareConfig{APIToken: "tok-en1\n"}, ""},
		{"both tokens", CloudflareConfig{APIToken: "tok-en1", ZoneToken: "tok-en2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewCloudflare(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("NewCloudflare: %v", err)
				}
				cf := p.zone.(*cloudflare.Provider)
				if cf.APIToken != "tok-en1" {
					t.Errorf("API token not trimmed: %q", cf.APIToken)
				}
				if p.String() != "cloudflare" {
					t.Errorf("String() = %q", p.String())
				}
				return
			}
			if err == nil || bluegreen.ErrorCode(err) != bluegreen.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewCloudflare: %v, want EINVALID %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "tok-en") || strings.Contains(fmt.Sprintf("%+v", tc.cfg), "tok-en") {
				t.Errorf("a token shows in %q or in the printed config", err)
			}
		})
	}
}

// isolateAWS points the AWS SDK at empty config files and clears the AWS
// environment, so that the test does not depend on the machine's.
func isolateAWS(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

func TestRoute53Settings(t *testing.T) {
	isolateAWS(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  Route53Config
		want string
	}{
		{"key id without secret", Route53Config{AccessKeyID: "AKIAEXAMPLE"}, "route53: secret_access_key is missing"},
		{"secret without key id", Route53Config{SecretAccessKey: "s3cr3t-value"}, "route53: access_key_id is missing"},
		{"session token alone", Route53Config{SessionToken: "s3cr3t-value"}, "route53: access_key_id is missing"},
		{"bad zone id", Route53Config{HostedZoneID: "not a zone"}, `hosted_zone_id "not a zone" is not a hosted zone id`},
		{"unknown profile", Route53Config{Profile: "no-such-profile"}, "route53: loading the AWS configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRoute53(ctx, tc.cfg)
			if err == nil || bluegreen.ErrorCode(err) != bluegreen.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewRoute53: %v, want EINVALID %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}

	p, err := NewRoute53(ctx, Route53Config{HostedZoneID: "/hostedzone/Z0123456789ABC", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3cr3t-value\n"})
	if err != nil {
		t.Fatalf("NewRoute53 with static credentials: %v", err)
	}
	r53 := p.zone.(*route53.Provider)
	if r53.Region != DefaultRoute53Region || r53.HostedZoneID != "Z0123456789ABC" || r53.SecretAccessKey != "s3cr3t-value" {
		t.Errorf("route53 provider region %q zone %q (secret trimmed: %v)", r53.Region, r53.HostedZoneID, r53.SecretAccessKey == "s3cr3t-value")
	}
	if shown := fmt.Sprintf("%v %+v %#v", Route53Config{SecretAccessKey: "s3cr3t-value"}, Route53Config{SessionToken: "s3cr3t-value"}, bluegreen.Secret("s3cr3t-value")); strings.Contains(shown, "s3cr3t") {
		t.Errorf("a printed config shows the secret: %s", shown)
	}
	if p.String() != "route53" {
		t.Errorf("String() = %q", p.String())
	}

	// A profile from the shared config file, with its region.
	conf := "[profile deploy]\nregion = eu-west-1\n"
	if err := os.WriteFile(os.Getenv("AWS_CONFIG_FILE"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = NewRoute53(ctx, Route53Config{Profile: "deploy"})
	if err != nil {
		t.Fatalf("NewRoute53 with a profile: %v", err)
	}
	if r := p.zone.(*route53.Provider).Region; r != "eu-west-1" {
		t.Errorf("region from the profile = %q, want eu-west-1", r)
	}
}

// memZone is an in-memory libdns zone: it stands for the provider's API,
// which the tests cannot reach, to test the read-compare-write logic.
type memZone struct {
	mu   sync.Mutex
	recs []libdns.Record
	sets int
}

func (z *memZone) GetRecords(_ context.Context, zone string) ([]libdns.Record, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if zone != "example.test." {
		return nil, errors.New("no such zone " + zone)
	}
	return slices.Clone(z.recs), nil
}

// SetRecords replaces each (name, type) RRset of the input, as libdns says.
func (z *memZone) SetRecords(_ context.Context, _ string, in []libdns.Record) ([]libdns.Record, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.sets++
	z.recs = slices.DeleteFunc(z.recs, func(old libdns.Record) bool {
		for _, n := range in {
			if old.RR().Name == n.RR().Name && old.RR().Type == n.RR().Type {
				return true
			}
		}
		return false
	})
	z.recs = append(z.recs, in...)
	return in, nil
}

// record is app.example.test. of type typ with the colors' values.
func record(t *testing.T, typ string, blue, green []string) dns.Record {
	t.Helper()
	r, err := dns.Record{Zone: "example.test.", Name: "app.example.test.", Type: typ, TTL: time.Minute,
		Values: map[bluegreen.Color][]string{bluegreen.Blue: blue, bluegreen.Green: green}}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReadCompareWrite: through dns.ReadCompareWrite, the libdns records
// map to RRsets (relative names, targets without the trailing dot, two
// addresses), a stale `from` writes nothing, a failing API is named.
func TestReadCompareWrite(t *testing.T) {
	ctx := context.Background()
	z := &memZone{recs: []libdns.Record{
		// Cloudflare returns targets without the trailing dot.
		libdns.CNAME{Name: "app", TTL: 5 * time.Minute, Target: "blue.example.test"},
		libdns.Address{Name: "blue", TTL: time.Minute, IP: netip.MustParseAddr("192.0.2.1")},
	}}
	p := dns.ReadCompareWrite(New("mem", z))
	r := record(t, "CNAME", []string{"blue.example.test."}, []string{"green.example.test."})

	vals, ttl, err := p.Current(ctx, r)
	if err != nil || !slices.Equal(vals, []string{"blue.example.test."}) || ttl != 5*time.Minute {
		t.Fatalf("Current = %v %v %v", vals, ttl, err)
	}
	if err := p.Replace(ctx, r, r.Values[bluegreen.Blue], r.Values[bluegreen.Green], time.Minute); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	if vals, ttl, _ := p.Current(ctx, r); !slices.Equal(vals, []string{"green.example.test."}) || ttl != time.Minute {
		t.Errorf("after Replace: %v %v", vals, ttl)
	}

	// A stale `from`: refused, nothing written.
	err = p.Replace(ctx, r, r.Values[bluegreen.Blue], r.Values[bluegreen.Green], time.Minute)
	var mm *dns.MismatchError
	if !errors.As(err, &mm) || !slices.Equal(mm.Holds, []string{"green.example.test."}) {
		t.Fatalf("Replace with a stale from: %v, want a mismatch holding green", err)
	}
	if z.sets != 1 {
		t.Errorf("SetRecords called %d times, want 1 (a refused Replace writes nothing)", z.sets)
	}

	// An A record with two addresses; a CNAME at its name is reported.
	a := record(t, "A", []string{"192.0.2.1", "192.0.2.2"}, []string{"192.0.2.3", "192.0.2.4"})
	err = p.Replace(ctx, a, a.Values[bluegreen.Blue], a.Values[bluegreen.Green], time.Minute)
	if !errors.As(err, &mm) || !slices.Equal(mm.Holds, []string{"CNAME green.example.test."}) {
		t.Fatalf("A Replace where a CNAME is: %v", err)
	}
	z.recs = []libdns.Record{
		libdns.Address{Name: "app", TTL: time.Minute, IP: netip.MustParseAddr("192.0.2.2")},
		libdns.Address{Name: "app", TTL: time.Minute, IP: netip.MustParseAddr("192.0.2.1")},
	}
	if err := p.Replace(ctx, a, a.Values[bluegreen.Blue], a.Values[bluegreen.Green], 30*time.Second); err != nil {
		t.Fatalf("A Replace: %v", err)
	}
	if vals, ttl, _ := p.Current(ctx, a); !slices.Equal(vals, []string{"192.0.2.3", "192.0.2.4"}) || ttl != 30*time.Second {
		t.Errorf("A after Replace: %v %v", vals, ttl)
	}

	// A failing API names the provider and the zone.
	bad := r
	bad.Zone = "other.test."
	if _, _, err := p.Current(ctx, bad); bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE || !strings.Contains(err.Error(), "mem: reading the records of zone other.test.") {
		t.Errorf("Current on an unknown zone: %v", err)
	}
}

package dns_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/dns"
	"github.com/bluegreen/bluegreen/internal/bindtest"
)

// TestReplaceIsConditionalOnTheServer: the prerequisite is checked by BIND
// itself, not by a read before the write: Replace with a stale `from` is
// refused by the server (NXRRSET) and reported with what the record holds.
func TestReplaceIsConditionalOnTheServer(t *testing.T) {
	t.Parallel()
	srv := bindtest.Start(t, bindtest.Options{NoSecondary: true})
	p := provider(t, srv, "")
	rec, err := appRecord().Normalize()
	if err != nil {
		t.Fatal(err)
	}
	srv.Set(t, "app.example.test.", "CNAME", time.Minute, "other.example.test.")
	err = p.Replace(context.Background(), rec, []string{"blue.example.test."}, []string{"green.example.test."}, time.Minute)
	var mm *dns.MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("Replace with a stale from: %v, want a *MismatchError", err)
	}
	if !slices.Equal(mm.Holds, []string{"other.example.test."}) || !slices.Equal(mm.Want, []string{"blue.example.test."}) {
		t.Errorf("MismatchError %+v", mm)
	}
	if want := `app.example.test. CNAME holds "other.example.test." where "blue.example.test." was expected`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if got := srv.Primary.Values(t, "app.example.test.", "CNAME"); !slices.Equal(got, []string{"other.example.test."}) {
		t.Errorf("record changed to %v by a refused Replace", got)
	}

	// An RRset that holds more than `from` fails the prerequisite too
	// (RFC 2136 compares the whole RRset).
	web, _ := webRecord().Normalize()
	srv.Set(t, "web.example.test.", "A", time.Minute, "192.0.2.1", "192.0.2.2", "192.0.2.7")
	err = p.Replace(context.Background(), web, []string{"192.0.2.1", "192.0.2.2"}, []string{"192.0.2.3"}, time.Minute)
	if !errors.As(err, &mm) || len(mm.Holds) != 3 {
		t.Errorf("Replace on a superset: %v, want a mismatch holding 3 addresses", err)
	}
}

// TestReplaceErrorsAreClear: each way the server says no gets its own
// message, naming the server and the key, never the secret.
func TestReplaceErrorsAreClear(t *testing.T) {
	t.Parallel()
	srv := bindtest.Start(t, bindtest.Options{NoSecondary: true})
	ctx := context.Background()
	app, _ := appRecord().Normalize()
	blue, green := []string{"blue.example.test."}, []string{"green.example.test."}

	t.Run("wrong secret on the update", func(t *testing.T) {
		err := provider(t, srv, "d3Jvbmctc2VjcmV0").Replace(ctx, app, blue, green, time.Minute)
		wantErr(t, err, bluegreen.EREFUSED, "refused the TSIG key bluegreen-key. (NOTAUTH, BADSIG) on the update of app.example.test. CNAME: wrong secret or key name?")
	})
	t.Run("unknown key name", func(t *testing.T) {
		p, err := dns.NewRFC2136(dns.RFC2136Config{Server: srv.Primary.Addr, Key: dns.TSIGKey{Name: "nobody.", Secret: bluegreen.Secret(srv.Secret)}})
		if err != nil {
			t.Fatal(err)
		}
		err = p.Replace(ctx, app, blue, green, time.Minute)
		wantErr(t, err, bluegreen.EREFUSED, "refused the TSIG key nobody. (NOTAUTH, BADKEY)")
	})
	t.Run("policy", func(t *testing.T) {
		locked := app
		locked.Name = "locked.example.test."
		err := provider(t, srv, "").Replace(ctx, locked, blue, green, time.Minute)
		wantErr(t, err, bluegreen.EREFUSED, "refused the update of locked.example.test. CNAME by policy (REFUSED)")
	})
	t.Run("zone not served", func(t *testing.T) {
		other := app
		other.Zone, other.Name = "elsewhere.test.", "app.elsewhere.test."
		err := provider(t, srv, "").Replace(ctx, other, blue, green, time.Minute)
		if code := bluegreen.ErrorCode(err); code != bluegreen.EREFUSED || !strings.Contains(err.Error(), srv.Primary.Addr) {
			t.Errorf("update for a zone the server lacks: %v (code %s), want EREFUSED naming the server", err, code)
		}
	})
	if got := srv.Primary.Values(t, "app.example.test.", "CNAME"); !slices.Equal(got, blue) {
		t.Errorf("record changed to %v by refused updates", got)
	}
}

// TestUnreachableServersAreNamed: a server that never answers, or is not
// there, is named with what happened; an unanswered update says its outcome
// is unknown.
func TestUnreachableServersAreNamed(t *testing.T) {
	t.Parallel()
	app, _ := appRecord().Normalize()
	ctx := context.Background()

	// A UDP and TCP "server" on one port that reads and never answers.
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	addr := tl.Addr().String()
	ul, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Skipf("UDP port %s taken: %v", addr, err) // rare; the TCP half is what matters
	}
	t.Cleanup(func() { ul.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	key := dns.TSIGKey{Name: "k.", Secret: "c2VjcmV0"}
	silent, err := dns.NewRFC2136(dns.RFC2136Config{Server: addr, Key: key, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = silent.Current(ctx, app)
	wantErr(t, err, bluegreen.EUNAVAILABLE, "no answer from "+addr+" to the query for app.example.test. CNAME within 200ms")
	err = silent.Replace(ctx, app, []string{"a.example.test."}, []string{"b.example.test."}, time.Minute)
	wantErr(t, err, bluegreen.EUNAVAILABLE, "no answer from "+addr+" to the update of app.example.test. CNAME within 200ms (the update may or may not have been applied)")

	// Nobody on the port: refused at once.
	free := freeAddr(t)
	gone, _ := dns.NewRFC2136(dns.RFC2136Config{Server: free, Key: key, Timeout: time.Second})
	err = gone.Replace(ctx, app, []string{"a.example.test."}, []string{"b.example.test."}, time.Minute)
	wantErr(t, err, bluegreen.EUNAVAILABLE, "cannot reach "+free+" for the update of app.example.test. CNAME: connection refused")
}

// TestServersFromNSRecords: with no servers configured, the propagation
// check asks the zone's NS names (resolved through the given resolver, here
// the BIND primary itself) on port 53.
func TestServersFromNSRecords(t *testing.T) {
	t.Parallel()
	srv := bindtest.Start(t, bindtest.Options{NoSecondary: true})
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Primary.Addr)
	}}
	sw, err := dns.New(dns.Config{Record: appRecord(), Provider: provider(t, srv, ""), Resolver: res, QueryTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := sw.Answers(context.Background())
	if err != nil {
		t.Fatalf("Answers: %v", err)
	}
	// ns1 and ns2 both resolve to 127.0.0.1: one server, port 53, where
	// nothing of ours listens.
	if len(ans) != 1 || ans[0].Server != "127.0.0.1:53" {
		t.Fatalf("servers from NS = %+v, want [127.0.0.1:53]", ans)
	}
}

// wantErr fails unless err has the code and contains the text.
func wantErr(t *testing.T, err error, code, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s %q", code, text)
	}
	if got := bluegreen.ErrorCode(err); got != code {
		t.Errorf("error %q has code %q, want %q", err, got, code)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error:\n %s\nwant it to contain:\n %s", err, text)
	}
}

// freeAddr returns a loopback TCP address nobody listens on (just closed).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

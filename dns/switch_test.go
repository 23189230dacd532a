package dns_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/dns"
	"github.com/bluegreen/bluegreen/internal/bindtest"
)

// TestSwitchBlueToGreenAndBack: the CNAME moves to green on the primary and
// the secondary, the report times the propagation per server and plans the
// drain from the old TTL; switching back restores blue everywhere.
func TestSwitchBlueToGreenAndBack(t *testing.T) {
	t.Parallel()
	srv := bindtest.Start(t, bindtest.Options{})
	sw := switcher(t, srv, appRecord(), provider(t, srv, ""), 10*time.Second)
	ctx := context.Background()

	rep, err := sw.Switch(ctx, bluegreen.Blue, bluegreen.Green)
	if err != nil {
		t.Fatalf("Switch blue→green: %v", err)
	}
	wantEverywhere(t, srv, "app.example.test.", "CNAME", "green.example.test.")
	if !rep.Applied || !rep.Changed {
		t.Errorf("report Applied=%v Changed=%v, want both true", rep.Applied, rep.Changed)
	}
	if !slices.Equal(rep.Old, []string{"blue.example.test."}) || !slices.Equal(rep.New, []string{"green.example.test."}) {
		t.Errorf("report Old=%v New=%v", rep.Old, rep.New)
	}
	if rep.OldTTL != 300*time.Second || rep.TTL != 60*time.Second {
		t.Errorf("report OldTTL=%v TTL=%v, want 5m0s (zone file) and 1m0s (record)", rep.OldTTL, rep.TTL)
	}
	p := rep.Propagation
	if len(p.Servers) != 2 {
		t.Fatalf("propagation asked %d servers, want 2: %+v", len(p.Servers), p.Servers)
	}
	for i, a := range p.Servers {
		if a.Server != srv.Addrs()[i] || a.Color != bluegreen.Green || a.At.IsZero() || a.Error != "" {
			t.Errorf("server %d answer %+v, want %s answering green with a time", i, a, srv.Addrs()[i])
		}
		if a.At.After(p.Done) || a.At.Before(p.Start) {
			t.Errorf("server %s answered at %v, outside [%v, %v]", a.Server, a.At, p.Start, p.Done)
		}
	}
	if p.Done.IsZero() || p.Took != p.Done.Sub(p.Start) || p.Took <= 0 {
		t.Errorf("propagation Start=%v Done=%v Took=%v", p.Start, p.Done, p.Took)
	}
	t.Logf("propagation to %d servers took %v (primary %v, secondary %v)", len(p.Servers), p.Took, p.Servers[0].After, p.Servers[1].After)
	if want := p.Done.Add(300*time.Second + dns.DefaultDrainMargin); !rep.DrainUntil.Equal(want) {
		t.Errorf("DrainUntil = %v, want last answer + old TTL + margin = %v", rep.DrainUntil, want)
	}

	back, err := sw.Switch(ctx, bluegreen.Green, bluegreen.Blue)
	if err != nil {
		t.Fatalf("Switch green→blue: %v", err)
	}
	wantEverywhere(t, srv, "app.example.test.", "CNAME", "blue.example.test.")
	if back.OldTTL != 60*time.Second {
		t.Errorf("switch back: OldTTL = %v, want the 1m0s the first switch set", back.OldTTL)
	}
	ans, err := sw.Answers(ctx)
	if err != nil {
		t.Fatalf("Answers: %v", err)
	}
	for _, a := range ans {
		if a.Color != bluegreen.Blue || a.TTL != time.Minute || a.Error != "" {
			t.Errorf("Answers: %+v, want blue with TTL 1m", a)
		}
	}
}

// TestSwitchARecordsWithTwoAddresses: an A record with two addresses per
// color switches as a whole RRset; an RRset changed by one address is
// refused.
func TestSwitchARecordsWithTwoAddresses(t *testing.T) {
	t.Parallel()
	srv := bindtest.Start(t, bindtest.Options{})
	sw := switcher(t, srv, webRecord(), provider(t, srv, ""), 10*time.Second)
	ctx := context.Background()

	rep, err := sw.Switch(ctx, bluegreen.Blue, bluegreen.Green)
	if err != nil {
		t.Fatalf("Switch: %v", err)
	}
	wantEverywhere(t, srv, "web.example.test.", "A", "192.0.2.3", "192.0.2.4")
	if !slices.Equal(rep.Old, []string{"192.0.2.1", "192.0.2.2"}) {
		t.Errorf("Old = %v, want both blue addresses", rep.Old)
	}

	// One green address replaced by hand: neither color any more.
	srv.Set(t, "web.example.test.", "A", time.Minute, "192.0.2.3", "192.0.2.9")
	_, err = sw.Switch(ctx, bluegreen.Green, bluegreen.Blue)
	var mm *dns.MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("Switch after a hand change: %v, want a *MismatchError", err)
	}
	if want := `web.example.test. A holds "192.0.2.3", "192.0.2.9", which is neither blue ("192.0.2.1", "192.0.2.2") nor green ("192.0.2.3", "192.0.2.4")`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\nwant it to contain %q", err, want)
	}
	wantEverywhere(t, srv, "web.example.test.", "A", "192.0.2.3", "192.0.2.9")
}

// TestSwitchRefusesARecordChangedByHand: the record points elsewhere, so the
// switch is refused with what it holds, and nothing changes.
func TestSwitchRefusesARecordChangedByHand(t *testing.T) {
	t.Parallel()
	srv := bindtest.Start(t, bindtest.Options{})
	srv.Set(t, "app.example.test.", "CNAME", 5*time.Minute, "other.example.test.")
	sw := switcher(t, srv, appRecord(), provider(t, srv, ""), 10*time.Second)

	rep, err := sw.Switch(context.Background(), bluegreen.Blue, bluegreen.Green)
	if err == nil {
		t.Fatal("Switch succeeded on a record changed by hand")
	}
	want := `app.example.test. CNAME holds "other.example.test.", which is neither blue ("blue.example.test.") nor green ("green.example.test."): changed by hand? refusing to switch`
	if err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
	if code := bluegreen.ErrorCode(err); code != bluegreen.EREFUSED {
		t.Errorf("ErrorCode = %q, want %q", code, bluegreen.EREFUSED)
	}
	if msg := bluegreen.ErrorMessage(err); msg != want {
		t.Errorf("ErrorMessage = %q, want the full message", msg)
	}
	var mm *dns.MismatchError
	if !errors.As(err, &mm) || !slices.Equal(mm.Holds, []string{"other.example.test."}) {
		t.Errorf("MismatchError = %+v, want Holds [other.example.test.]", mm)
	}
	if rep.Applied || rep.Changed {
		t.Errorf("report Applied=%v Changed=%v on a refusal", rep.Applied, rep.Changed)
	}
	wantEverywhere(t, srv, "app.example.test.", "CNAME", "other.example.test.")

	// A deleted record is refused the same way.
	srv.Set(t, "app.example.test.", "CNAME", time.Minute)
	_, err = sw.Switch(context.Background(), bluegreen.Blue, bluegreen.Green)
	if err == nil || !strings.Contains(err.Error(), "holds nothing (no such record), which is neither blue") {
		t.Errorf("Switch on a deleted record: %v, want a refusal saying it holds nothing", err)
	}
}

// TestSwitchWithAWrongSecretChangesNothing: the server refuses the key; the
// error says so without the secret, and neither server changes.
func TestSwitchWithAWrongSecretChangesNothing(t *testing.T) {
	t.Parallel()
	srv := bindtest.Start(t, bindtest.Options{})
	const wrong = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="
	sw := switcher(t, srv, appRecord(), provider(t, srv, wrong), 10*time.Second)

	rep, err := sw.Switch(context.Background(), bluegreen.Blue, bluegreen.Green)
	if err == nil {
		t.Fatal("Switch succeeded with a wrong TSIG secret")
	}
	for _, want := range []string{"refused the TSIG key bluegreen-key.", "BADSIG", "wrong secret or key name?", srv.Primary.Addr} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), srv.Secret) {
		t.Errorf("error %q contains a secret", err)
	}
	if code := bluegreen.ErrorCode(err); code != bluegreen.EREFUSED {
		t.Errorf("ErrorCode = %q, want %q", code, bluegreen.EREFUSED)
	}
	if rep.Applied {
		t.Error("report says Applied after a refused key")
	}
	wantEverywhere(t, srv, "app.example.test.", "CNAME", "blue.example.test.")
}

// TestSwitchWhenAlreadyDone: a record that already holds the target color
// (a resumed switch) is not updated again; propagation is still checked.
func TestSwitchWhenAlreadyDone(t *testing.T) {
	t.Parallel()
	srv := bindtest.Start(t, bindtest.Options{})
	srv.Set(t, "app.example.test.", "CNAME", 2*time.Minute, "green.example.test.")
	sw := switcher(t, srv, appRecord(), provider(t, srv, ""), 10*time.Second)
	rep, err := sw.Switch(context.Background(), bluegreen.Blue, bluegreen.Green)
	if err != nil {
		t.Fatalf("Switch: %v", err)
	}
	if !rep.Applied || rep.Changed || rep.TTL != 2*time.Minute || rep.Propagation.Done.IsZero() {
		t.Errorf("report %+v, want Applied, not Changed, TTL 2m, propagation done", rep)
	}
	if _, err := sw.Switch(context.Background(), bluegreen.Blue, bluegreen.Blue); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
		t.Errorf("Switch blue→blue: %v, want EINVALID", err)
	}
}

// TestPrepareLowersTheTTL: Prepare keeps the values, sets the TTL on both
// servers, and says when a switch needs to drain only for the new TTL.
func TestPrepareLowersTheTTL(t *testing.T) {
	t.Parallel()
	srv := bindtest.Start(t, bindtest.Options{})
	sw := switcher(t, srv, appRecord(), provider(t, srv, ""), 10*time.Second)

	rep, err := sw.Prepare(context.Background(), 30*time.Second)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if rep.Color != bluegreen.Blue || rep.OldTTL != 300*time.Second || rep.TTL != 30*time.Second || !rep.Changed {
		t.Errorf("report %+v, want blue, 5m → 30s, changed", rep)
	}
	if want := rep.Propagation.Done.Add(300*time.Second + dns.DefaultDrainMargin); rep.Propagation.Done.IsZero() || !rep.ReadyAt.Equal(want) {
		t.Errorf("ReadyAt = %v, want %v", rep.ReadyAt, want)
	}
	wantEverywhere(t, srv, "app.example.test.", "CNAME", "blue.example.test.")
	for _, n := range srv.Servers() {
		if ttl := n.TTL(t, "app.example.test.", "CNAME"); ttl != 30*time.Second {
			t.Errorf("%s answers TTL %v, want 30s", n.Role, ttl)
		}
	}
	// The following switch drains for the lowered TTL.
	sr, err := sw.Switch(context.Background(), bluegreen.Blue, bluegreen.Green)
	if err != nil || sr.OldTTL != 30*time.Second {
		t.Errorf("Switch after Prepare: OldTTL %v, err %v; want 30s, nil", sr.OldTTL, err)
	}

	// A record that holds neither color is not touched.
	srv.Set(t, "app.example.test.", "CNAME", time.Minute, "other.example.test.")
	if _, err := sw.Prepare(context.Background(), 20*time.Second); err == nil || !strings.Contains(err.Error(), "refusing to change the TTL") {
		t.Errorf("Prepare on a hand-changed record: %v, want a refusal", err)
	}
	if ttl := srv.Primary.TTL(t, "app.example.test.", "CNAME"); ttl != time.Minute {
		t.Errorf("refused Prepare changed the TTL to %v", ttl)
	}
}

// TestPropagationTimeoutNamesTheStoppedSecondary: with the secondary down,
// the switch is applied on the primary but the check times out, naming the
// secondary and saying the update stands.
func TestPropagationTimeoutNamesTheStoppedSecondary(t *testing.T) {
	t.Parallel()
	srv := bindtest.Start(t, bindtest.Options{})
	srv.Secondary.Stop()
	sw := switcher(t, srv, appRecord(), provider(t, srv, ""), 500*time.Millisecond)

	start := time.Now()
	rep, err := sw.Switch(context.Background(), bluegreen.Blue, bluegreen.Green)
	var pe *dns.PropagationError
	if !errors.As(err, &pe) {
		t.Fatalf("Switch with the secondary down: %v, want a *PropagationError", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Switch took %v with a 500ms propagation timeout", took)
	}
	for _, want := range []string{"was accepted and stands", srv.Secondary.Addr, "not every authoritative server answers it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), srv.Primary.Addr) {
		t.Errorf("error %q names the primary, which answered", err)
	}
	if len(pe.Pending) != 1 || pe.Pending[0].Server != srv.Secondary.Addr {
		t.Errorf("Pending = %+v, want the secondary alone", pe.Pending)
	}
	if bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE {
		t.Errorf("ErrorCode = %q, want %q", bluegreen.ErrorCode(err), bluegreen.EUNAVAILABLE)
	}
	if !rep.Applied || !rep.Propagation.Done.IsZero() || rep.DrainUntil.IsZero() {
		t.Errorf("report Applied=%v Done=%v DrainUntil=%v, want applied, not done, a drain time", rep.Applied, rep.Propagation.Done, rep.DrainUntil)
	}
	if got := srv.Primary.Values(t, "app.example.test.", "CNAME"); !slices.Equal(got, []string{"green.example.test."}) {
		t.Errorf("primary answers %v, want green (the update stands)", got)
	}
}

// bindAPI is a dns.RRsetAPI over the BIND primary without conditional
// writes, like a hosting API: it drives dns.ReadCompareWrite, which the
// cloud providers use, through a real switch.
type bindAPI struct{ srv *bindtest.Server }

func (b bindAPI) GetRRset(ctx context.Context, _, name, typ string) ([]string, time.Duration, error) {
	return b.srv.Primary.Lookup(ctx, name, typ)
}

func (b bindAPI) SetRRset(_ context.Context, _, name, typ string, values []string, ttl time.Duration) error {
	return b.srv.Update(name, typ, ttl, values...)
}

// TestSwitchThroughReadCompareWrite: the read-compare-write provider
// switches, checks propagation, and refuses a record changed by hand.
func TestSwitchThroughReadCompareWrite(t *testing.T) {
	t.Parallel()
	srv := bindtest.Start(t, bindtest.Options{})
	sw := switcher(t, srv, webRecord(), dns.ReadCompareWrite(bindAPI{srv}), 10*time.Second)
	rep, err := sw.Switch(context.Background(), bluegreen.Blue, bluegreen.Green)
	if err != nil {
		t.Fatalf("Switch: %v", err)
	}
	if rep.Propagation.Done.IsZero() || !rep.Changed {
		t.Errorf("report %+v, want changed and propagated", rep)
	}
	wantEverywhere(t, srv, "web.example.test.", "A", "192.0.2.3", "192.0.2.4")

	srv.Set(t, "web.example.test.", "A", time.Minute, "192.0.2.8")
	_, err = sw.Switch(context.Background(), bluegreen.Green, bluegreen.Blue)
	var mm *dns.MismatchError
	if !errors.As(err, &mm) || !slices.Equal(mm.Holds, []string{"192.0.2.8"}) {
		t.Fatalf("Switch on a hand-changed record: %v, want a mismatch holding 192.0.2.8", err)
	}
	wantEverywhere(t, srv, "web.example.test.", "A", "192.0.2.8")
}

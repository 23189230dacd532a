package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/internal/bindtest"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// dnsEvents returns the events of evs that carry a DNS update (details
// "dns"): a switch or a rollback whose record moved.
func dnsEvents(evs []bluegreen.Event) []bluegreen.Event {
	var out []bluegreen.Event
	for _, ev := range evs {
		if _, ok := ev.Details["dns"]; ok {
			out = append(out, ev)
		}
	}
	return out
}

// TestClusterDNSSwitch: three serves on one etcd with switch_mode dns and
// a real BIND primary and secondary. A switch through a follower moves the
// record once (the leader does it): both servers answer green, the result
// carries the DNS report, a follower's status shows each server's answer
// and the DNS drain, and every instance's history holds exactly one event
// with the DNS update. After kill -9 of the leader, a rollback through the
// survivor that does not lead moves the record back to blue on both.
func TestClusterDNSSwitch(t *testing.T) {
	t.Parallel()
	digBin := testenv.LookPath(t, "dig", "bind9-dnsutils")
	b := bindtest.Start(t, bindtest.Options{})
	eps := etcdtest.Endpoints(etcdtest.Start(t, 1))
	// The serves read the TSIG secret from a file: t.Setenv cannot be
	// used in a parallel test.
	secret := filepath.Join(t.TempDir(), "tsig.secret")
	if err := os.WriteFile(secret, []byte(b.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dnsCfg := strings.Replace(dnsConfig(b, "E2E_UNUSED"), "{env: E2E_UNUSED}", "{file: "+secret+"}", 1)
	if !strings.Contains(dnsCfg, secret) {
		t.Fatalf("the secret file is not in the DNS config:\n%s", dnsCfg)
	}
	blueApp, _ := startApp(t, "blue")
	greenApp, _ := startApp(t, "green")
	serves := startCluster(t, 3, eps, "e2e-dns", blueApp, greenApp, "watch: {enabled: false}\n"+dnsCfg)

	name := "app." + b.Zone
	blue, green := "blue."+b.Zone, "green."+b.Zone
	both := func(want string) {
		t.Helper()
		for _, srv := range b.Addrs() {
			if got := dig(t, digBin, srv, name); got != want {
				t.Fatalf("%s answers %q for %s, want %q", srv, got, name, want)
			}
		}
	}
	both(blue)

	// Switch through a follower: edge-1 leads (startCluster), edge-2
	// forwards.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := api.NewClient(serves[1].apiAd, serves[1].token, "e2e-tester").Switch(ctx, bluegreen.SwitchRequest{To: bluegreen.Green})
	if err != nil || !res.Changed {
		t.Fatalf("switch to green through the follower edge-2: %+v, %v", res, err)
	}
	rep := res.DNS
	if rep == nil {
		t.Fatalf("the switch result has no DNS report: %+v", res)
	}
	if rep.Name != name || !rep.Changed || !rep.Propagated || !slices.Equal(rep.New, []string{green}) ||
		!slices.Equal(rep.Old, []string{blue}) || len(rep.Servers) != 2 || rep.DrainUntil.IsZero() {
		t.Fatalf("the switch's DNS report: %+v", *rep)
	}
	if r := res.Routers; r == nil || len(r.Acked) != 3 || len(r.Missing) != 0 {
		t.Fatalf("routers after the DNS switch: %+v; want all three confirmed", r)
	}
	both(green)

	// A follower's status shows what each authoritative server answers and
	// the old color's DNS drain.
	st := serves[2].mustCLI(t, "status")
	for _, want := range []string{"dns: blue is draining by DNS until", "dns: " + name + " CNAME, as each authoritative server answers it now:",
		b.Primary.Addr, b.Secondary.Addr, "edge-3 (this one)"} {
		if !strings.Contains(st, want) {
			t.Fatalf("status on the follower edge-3 lacks %q:\n%s", want, st)
		}
	}
	answered := 0
	for _, line := range strings.Split(st, "\n") {
		for _, srv := range b.Addrs() {
			if !strings.HasPrefix(strings.TrimSpace(line), srv+" ") {
				continue
			}
			if !strings.Contains(line, green+" (green,") {
				t.Fatalf("status on edge-3 says %s answers %q, want %s (green)", srv, line, green)
			}
			answered++
		}
	}
	if answered != 2 {
		t.Fatalf("status on edge-3 has %d answer lines for the 2 servers:\n%s", answered, st)
	}

	// The leader's controller made the update, not the follower asked.
	moved := "switched traffic from blue to green; DNS " + name
	testenv.WaitFor(t, 5*time.Second, "the leader edge-1 to log the DNS switch", func() bool {
		return strings.Contains(serves[0].stderr.String(), moved)
	})
	for i, s := range serves[1:] {
		if strings.Contains(s.stderr.String(), moved) {
			t.Fatalf("the follower edge-%d logs the DNS switch as its own:\n%s", i+2, s.stderr.String())
		}
	}

	// The DNS update is recorded once, by whoever did it, and every
	// instance reads the same history.
	for i, s := range serves {
		evs := dnsEvents(history(t, s))
		if len(evs) != 1 || evs[0].Action != bluegreen.ActionSwitch || evs[0].Outcome != bluegreen.OutcomeOK ||
			evs[0].Details["to"] != "green" || !strings.Contains(evs[0].Message, "DNS "+name) {
			t.Fatalf("edge-%d's history holds %d events with a DNS update, want the one switch to green:\n%s", i+1, len(evs), describeEvents(evs))
		}
	}
	for _, ev := range history(t, serves[0]) {
		if (ev.Action == bluegreen.ActionSwitch || ev.Action == bluegreen.ActionRollback) && ev.Outcome != bluegreen.OutcomeOK {
			t.Fatalf("a switch that did not go through is in the history: %s %s: %s", ev.Action, ev.Outcome, ev.Message)
		}
	}

	// kill -9 the leader; once a survivor leads (the dead leader's record
	// says leader until its lease expires), roll back through the other.
	serves[0].kill9(t)
	survivors := serves[1:]
	leader := waitNewLeader(t, survivors, "edge-1")
	via, viaID := serves[1], "edge-2"
	if leader == "edge-2" {
		via, viaID = serves[2], "edge-3"
	}
	out, errOut, code := via.cli(t, "rollback")
	if code != 0 {
		t.Fatalf("rollback through %s (%s leads): exit %d\nstdout: %s\nstderr: %s", viaID, leader, code, out, errOut)
	}
	for _, want := range []string{"DNS: " + name + " CNAME now holds " + blue, "propagated to all 2 authoritative servers in"} {
		if !strings.Contains(out, want) {
			t.Fatalf("rollback output through %s lacks %q:\n%s", viaID, want, out)
		}
	}
	both(blue)
	lead := serves[1]
	if leader == "edge-3" {
		lead = serves[2]
	}
	back := "rolled back traffic from green to blue; DNS " + name
	testenv.WaitFor(t, 5*time.Second, "the new leader "+leader+" to log the DNS rollback", func() bool {
		return strings.Contains(lead.stderr.String(), back)
	})
	if strings.Contains(via.stderr.String(), back) {
		t.Fatalf("the follower %s logs the DNS rollback as its own:\n%s", viaID, via.stderr.String())
	}
	evs := dnsEvents(history(t, via))
	if len(evs) != 2 || evs[0].Action != bluegreen.ActionRollback || evs[0].Details["to"] != "blue" {
		t.Fatalf("after the rollback %s's history holds %d events with a DNS update, want the switch and the rollback (newest first):\n%s",
			viaID, len(evs), describeEvents(evs))
	}
	t.Logf("edge-1 killed; %s leads; rolled back through %s: %s", leader, viaID, evs[0].Message)
}

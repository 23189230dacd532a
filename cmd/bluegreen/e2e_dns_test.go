package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/bindtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// dnsConfig is the switch_mode: dns part of a config for the BIND servers
// of b, with the TSIG secret in the environment variable secretEnv.
func dnsConfig(b *bindtest.Server, secretEnv string) string {
	return fmt.Sprintf(`switch_mode: dns
dns:
  provider: rfc2136
  zone: %s
  record: app.%s
  type: CNAME
  ttl: 60s
  values:
    blue: [blue.%s]
    green: [green.%s]
  servers: [%s]
  propagation_timeout: 20s
  rfc2136:
    server: %s
    key_name: %s
    key_algorithm: %s
    key_secret: {env: %s}`, b.Zone, b.Zone, b.Zone, b.Zone, strings.Join(b.Addrs(), ", "), b.Primary.Addr,
		b.KeyName, b.Algorithm, secretEnv)
}

// dig asks one server for the app record with the dig command, as an
// operator would.
func dig(t *testing.T, digBin, server, name string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(server)
	out, err := exec.Command(digBin, "+short", "+norecurse", "@"+host, "-p", port, name, "CNAME").CombinedOutput()
	if err != nil {
		t.Fatalf("dig @%s: %v\n%s", server, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestDNSSwitch: with a real BIND primary and secondary, switch and
// rollback move the record on both (dig says so) and print the propagation
// time; a record changed by hand is refused naming what it holds; a wrong
// TSIG secret fails clearly; in both cases the live color stays as it was,
// in the state and in DNS.
func TestDNSSwitch(t *testing.T) {
	digBin := testenv.LookPath(t, "dig", "bind9-dnsutils")
	b := bindtest.Start(t, bindtest.Options{})
	t.Setenv("E2E_TSIG_SECRET", b.Secret)
	s := startPlainServe(t, dnsConfig(b, "E2E_TSIG_SECRET"))
	name := "app." + b.Zone
	answers := func() []string {
		var out []string
		for _, srv := range b.Addrs() {
			out = append(out, dig(t, digBin, srv, name))
		}
		return out
	}
	both := func(want string) {
		t.Helper()
		for i, got := range answers() {
			if got != want {
				t.Fatalf("%s answers %q, want %q", b.Addrs()[i], got, want)
			}
		}
	}
	blue, green := "blue."+b.Zone, "green."+b.Zone
	both(blue)

	out := s.mustCLI(t, "switch", "green")
	for _, want := range []string{"DNS: " + name + " CNAME now holds " + green, "propagated to all 2 authoritative servers in",
		"the old color must keep serving until"} {
		if !strings.Contains(out, want) {
			t.Fatalf("switch output lacks %q:\n%s", want, out)
		}
	}
	both(green)
	st := s.mustCLI(t, "status")
	if !strings.Contains(st, "blue is draining by DNS until") || !strings.Contains(st, b.Secondary.Addr) {
		t.Fatalf("status in DNS mode:\n%s", st)
	}
	// dns prepare lowers the TTL (the switch set dns.ttl, 60s) on both servers.
	out = s.mustCLI(t, "dns", "prepare", "--ttl", "30s")
	if !strings.Contains(out, "TTL 60s → 30s") || !strings.Contains(out, "switch after") {
		t.Fatalf("dns prepare output:\n%s", out)
	}
	for _, n := range b.Servers() {
		if ttl := n.TTL(t, name, "CNAME"); ttl != 30*time.Second {
			t.Fatalf("%s answers TTL %s after dns prepare, want 30s", n.Addr, ttl)
		}
	}
	out = s.mustCLI(t, "rollback")
	if !strings.Contains(out, "now holds "+blue) || !strings.Contains(out, "propagated to all 2") {
		t.Fatalf("rollback output:\n%s", out)
	}
	both(blue)

	// Changed by hand: refused, naming what the record holds; nothing moves.
	other := "other." + b.Zone
	b.Set(t, name, "CNAME", 300*time.Second, other)
	_, errOut, code := s.cli(t, "switch", "green")
	if code != 1 || !strings.Contains(errOut, `holds "`+other+`"`) || !strings.Contains(errOut, "blue is still live") {
		t.Fatalf("switch with the record changed by hand: exit %d\n%s", code, errOut)
	}
	both(other)
	if col := strings.TrimSpace(s.mustCLI(t, "color")); col != "blue" {
		t.Fatalf("after a refused DNS switch the live color is %s", col)
	}
	findEvent(t, history(t, s), "the refused DNS switch", func(ev bluegreen.Event) bool {
		return ev.Action == bluegreen.ActionSwitch && ev.Outcome == bluegreen.OutcomeRefused && strings.Contains(ev.Message, other)
	})
	b.Set(t, name, "CNAME", 300*time.Second, blue)

	// A wrong TSIG secret: a clear error, nothing changed anywhere, and the
	// secret in no output and no event.
	wrong := make([]byte, 32)
	_, _ = rand.Read(wrong)
	wrongSecret := base64.StdEncoding.EncodeToString(wrong)
	t.Setenv("E2E_TSIG_WRONG", wrongSecret)
	w := startPlainServe(t, dnsConfig(b, "E2E_TSIG_WRONG"))
	wout, errOut, code := w.cli(t, "switch", "green")
	if code != 1 || !strings.Contains(errOut, "refused the TSIG key "+b.KeyName) || !strings.Contains(errOut, "blue is still live") {
		t.Fatalf("switch with a wrong TSIG secret: exit %d\n%s", code, errOut)
	}
	both(blue)
	if col := strings.TrimSpace(w.mustCLI(t, "color")); col != "blue" {
		t.Fatalf("after a failed DNS switch the live color is %s", col)
	}
	hist := w.mustCLI(t, "history", "-o", "json")
	for _, text := range []string{wout, errOut, hist, w.mustCLI(t, "status", "-o", "json")} {
		if strings.Contains(text, wrongSecret) || strings.Contains(text, b.Secret) {
			t.Fatal("a TSIG secret appears in the CLI output or the history")
		}
	}
	if !strings.Contains(hist, "refused the TSIG key") {
		t.Fatalf("the failed DNS switch is not in the history:\n%s", hist)
	}
}

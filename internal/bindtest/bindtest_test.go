package bindtest_test

import (
	"context"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/bindtest"
)

// TestStartServesZoneOnBothServers: both servers answer the zone's records
// authoritatively, on distinct loopback ports, each with its pid file.
func TestStartServesZoneOnBothServers(t *testing.T) {
	s := bindtest.Start(t, bindtest.Options{})
	if s.Primary.Addr == s.Secondary.Addr {
		t.Fatalf("primary and secondary share %s", s.Primary.Addr)
	}
	for _, n := range s.Servers() {
		if got := n.Values(t, "app.example.test.", "CNAME"); !slices.Equal(got, []string{"blue.example.test."}) {
			t.Errorf("%s answers app CNAME %v, want [blue.example.test.]", n.Role, got)
		}
		if got := n.Values(t, "web.example.test.", "A"); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2"}) {
			t.Errorf("%s answers web A %v, want both blue addresses", n.Role, got)
		}
		if ttl := n.TTL(t, "app.example.test.", "CNAME"); ttl != 300*time.Second {
			t.Errorf("%s answers app TTL %v, want 5m", n.Role, ttl)
		}
		if _, err := os.Stat(n.Dir + "/named.pid"); err != nil {
			t.Errorf("%s has no pid file: %v", n.Role, err)
		}
	}
	if s.Secret == "" || s.KeyName != bindtest.DefaultKeyName || s.Algorithm != "hmac-sha256" {
		t.Errorf("key = %q/%q, secret set %v", s.KeyName, s.Algorithm, s.Secret != "")
	}
}

// TestSetReachesTheSecondary: a signed update on the primary is transferred
// to the secondary (NOTIFY), which is what the engine's propagation check
// relies on.
func TestSetReachesTheSecondary(t *testing.T) {
	s := bindtest.Start(t, bindtest.Options{})
	s.Set(t, "app.example.test.", "CNAME", time.Minute, "green.example.test.")
	for _, n := range s.Servers() {
		if got := n.Values(t, "app.example.test.", "CNAME"); !slices.Equal(got, []string{"green.example.test."}) {
			t.Errorf("%s answers %v after Set, want green", n.Role, got)
		}
		if ttl := n.TTL(t, "app.example.test.", "CNAME"); ttl != time.Minute {
			t.Errorf("%s answers TTL %v after Set, want 1m", n.Role, ttl)
		}
	}
}

// TestStopEndsTheProcesses: Stop and the test cleanup end named by PID;
// nothing is left running after the test.
func TestStopEndsTheProcesses(t *testing.T) {
	var pids []int
	skipped := false
	t.Run("servers", func(t *testing.T) {
		t.Cleanup(func() { skipped = t.Skipped() })
		s := bindtest.Start(t, bindtest.Options{})
		s.Secondary.Stop()
		if s.Secondary.Running() {
			t.Fatal("secondary still running after Stop")
		}
		if _, _, err := s.Secondary.Lookup(context.Background(), "app.example.test.", "CNAME"); err == nil {
			t.Error("a stopped secondary still answers")
		}
		if !s.Primary.Running() {
			t.Fatal("primary stopped with the secondary")
		}
		pids = []int{s.Primary.PID, s.Secondary.PID}
	})
	if skipped {
		t.Skip("the servers were not started (see the subtest's skip)")
	}
	for _, pid := range pids {
		// The processes were reaped by their owner, so the PID is free
		// (kill with signal 0 fails) unless reused, which cannot happen
		// this fast in practice.
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d still exists after the test's cleanup", pid)
		}
	}
	if len(pids) != 2 {
		t.Fatalf("subtest recorded %d pids, want 2", len(pids))
	}
}

// TestPrimaryAlone: NoSecondary starts one server, with another algorithm.
func TestPrimaryAlone(t *testing.T) {
	s := bindtest.Start(t, bindtest.Options{NoSecondary: true, Algorithm: "hmac-sha512"})
	if s.Secondary != nil || len(s.Addrs()) != 1 {
		t.Fatalf("secondary started with NoSecondary: %v", s.Addrs())
	}
	s.Set(t, "web.example.test.", "A", 30*time.Second, "192.0.2.3", "192.0.2.4")
	if got := s.Primary.Values(t, "web.example.test.", "A"); !slices.Equal(got, []string{"192.0.2.3", "192.0.2.4"}) {
		t.Errorf("primary answers %v after a hmac-sha512 signed Set", got)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/bindtest"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// Each color's machine in TestAgentsDNS: distinct loopback addresses (Linux
// routes all of 127/8 to lo), the app on the same port on both.
const (
	blueIP  = "127.0.0.2"
	greenIP = "127.0.0.3"
)

// TestAgentsDNS is the seed's setup end to end: two environments on
// separate machines (blue's host on 127.0.0.2, green's on 127.0.0.3, the
// app on the same port on both), each run by its agent; no bluegreen router
// in front: clients resolve an A record on a real BIND primary and
// secondary and connect to the address they get. Blue is deployed, then
// green; `switch green` moves the record (both servers answer green's
// address, and a client following DNS reaches green's new version), and
// rollback moves it back to blue; clients following DNS all the while see
// no failed request, the old color serving whoever still resolves to it.
func TestAgentsDNS(t *testing.T) {
	t.Parallel()
	digBin := testenv.LookPath(t, "dig", "bind9-dnsutils")
	b := bindtest.Start(t, bindtest.Options{Records: []string{"app 300 IN A " + blueIP}})
	name := "app." + b.Zone
	secret := filepath.Join(t.TempDir(), "tsig")
	if err := os.WriteFile(secret, []byte(b.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := startFleetOn(t, 1, dnsAConfig(b, secret)+"\nwatch: {enabled: false}", "",
		map[string]string{"blue": blueIP, "green": greenIP})
	blue, green := f.colorHosts("blue")[0], f.colorHosts("green")[0]
	port := blue.port

	both := func(want string) {
		t.Helper()
		for _, srv := range b.Addrs() {
			if got := digType(t, digBin, srv, name, "A"); got != want {
				t.Fatalf("%s answers %s A %q, want %q", srv, name, got, want)
			}
		}
	}
	// reaches checks what a client resolving the name with each server,
	// then connecting to the port, is answered, and by which address.
	reaches := func(ip, color, version string) {
		t.Helper()
		for _, srv := range b.Addrs() {
			got, err := getByDNS(srv, fmt.Sprintf("http://%s:%d/", strings.TrimSuffix(name, "."), port))
			if err != nil {
				t.Fatalf("a client resolving %s with %s: %v", name, srv, err)
			}
			if got.remote != net.JoinHostPort(ip, fmt.Sprint(port)) || got.Color != color || got.Version != version {
				t.Fatalf("a client resolving %s with %s reached %s (%s %s); want %s:%d (%s %s)",
					name, srv, got.remote, got.Color, got.Version, ip, port, color, version)
			}
		}
	}
	both(blueIP)

	out := f.mustCLI(t, "deploy", "blue")
	if !strings.Contains(out, "1 of 1 hosts run") {
		t.Errorf("deploy blue's output lacks the hosts' summary:\n%s", out)
	}
	f.wantVersions(t, "blue", "v1")
	reaches(blueIP, "blue", "v1")

	f.repo.commit(t, "green", "v2", map[string]string{"VERSION": "v2\n"})
	out = f.mustCLI(t, "deploy", "green")
	if !strings.Contains(out, "1 of 1 hosts run") {
		t.Errorf("deploy green's output lacks the hosts' summary:\n%s", out)
	}
	f.wantVersions(t, "green", "v2")
	both(blueIP) // a deploy leaves DNS alone
	reaches(blueIP, "blue", "v1")

	// Clients that follow DNS (each request resolves the name again, with
	// the primary or the secondary in turn) run through the switch and the
	// rollback: the old color keeps serving, so none fails.
	clients := startDNSClients(b.Addrs(), fmt.Sprintf("http://%s:%d/", strings.TrimSuffix(name, "."), port))
	t.Cleanup(func() { clients.stop() })
	clients.wait(t, "blue", 20)

	out = f.mustCLI(t, "switch", "green")
	for _, want := range []string{"DNS: " + name + " A now holds " + greenIP, "propagated to all 2 authoritative servers in",
		"the old color must keep serving until"} {
		if !strings.Contains(out, want) {
			t.Fatalf("switch output lacks %q:\n%s", want, out)
		}
	}
	both(greenIP)
	reaches(greenIP, "green", "v2")
	clients.wait(t, "green", 20)
	if got := versionAt(blue); got != "v1" {
		t.Errorf("blue's host answers %q after the switch; want v1 (it keeps serving resolvers' old answers)", got)
	}
	if col := strings.TrimSpace(f.mustCLI(t, "color")); col != "green" {
		t.Errorf("after switch green the live color is %s", col)
	}
	if st := f.mustCLI(t, "status"); !strings.Contains(st, "blue is draining by DNS until") || !strings.Contains(st, green.name) {
		t.Errorf("status after the DNS switch:\n%s", st)
	}

	out = f.mustCLI(t, "rollback")
	if !strings.Contains(out, "now holds "+blueIP) || !strings.Contains(out, "propagated to all 2") {
		t.Fatalf("rollback output:\n%s", out)
	}
	both(blueIP)
	reaches(blueIP, "blue", "v1")
	clients.wait(t, "blue", 20)
	if col := strings.TrimSpace(f.mustCLI(t, "color")); col != "blue" {
		t.Errorf("after the rollback the live color is %s", col)
	}
	byColor, failed, errs := clients.stop()
	if failed != 0 {
		t.Errorf("clients following DNS through the switch and the rollback: %d failed (answered by color: %v); first: %v",
			failed, byColor, errs)
	}
	t.Logf("clients following DNS: answered by color %v", byColor)
}

// dnsAConfig is dnsConfig for the app A record of b, blue's value blueIP
// and green's greenIP, with the TSIG secret in the file secretFile.
func dnsAConfig(b *bindtest.Server, secretFile string) string {
	return strings.NewReplacer("type: CNAME", "type: A", "[blue."+b.Zone+"]", "["+blueIP+"]",
		"[green."+b.Zone+"]", "["+greenIP+"]", "{env: E2E_UNUSED}", "{file: "+secretFile+"}").Replace(dnsConfig(b, "E2E_UNUSED"))
}

// digType asks server for name's record of type typ with the dig command,
// as an operator would.
func digType(t *testing.T, digBin, server, name, typ string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(server)
	out, err := exec.Command(digBin, "+short", "+norecurse", "@"+host, "-p", port, name, typ).CombinedOutput()
	if err != nil {
		t.Fatalf("dig @%s: %v\n%s", server, err, out)
	}
	return strings.TrimSpace(string(out))
}

// dnsAnswer is what the sample app answered a client that followed DNS,
// and the address the client connected to.
type dnsAnswer struct {
	Color, Version string
	remote         string
}

// getByDNS gets url as a client whose resolver is the DNS server at server
// (no cache, a fresh connection), and returns the app's answer.
func getByDNS(server, url string) (dnsAnswer, error) {
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
	dialer := &net.Dialer{Resolver: resolver, Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
	var a dnsAnswer
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(c httptrace.GotConnInfo) { a.remote = c.Conn.RemoteAddr().String() },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return a, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return a, err
	}
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("%s: %s", resp.Status, body)
	}
	return a, json.Unmarshal(body, &a)
}

// dnsClients request a URL in a loop as clients following DNS, asking the
// servers in turn, until stop; it counts answers by color and failures,
// keeping the first failures' errors.
type dnsClients struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	byColor map[string]int
	failed  int
	errs    []string // the first 3
}

// startDNSClients starts requesting url with the resolvers servers.
func startDNSClients(servers []string, url string) *dnsClients {
	ctx, cancel := context.WithCancel(context.Background())
	c := &dnsClients{cancel: cancel, done: make(chan struct{}), byColor: map[string]int{}}
	go func() {
		defer close(c.done)
		for i := 0; ctx.Err() == nil; i++ {
			a, err := getByDNS(servers[i%len(servers)], url)
			c.mu.Lock()
			if err != nil {
				if c.failed++; len(c.errs) < 3 {
					c.errs = append(c.errs, err.Error())
				}
			} else {
				c.byColor[a.Color]++
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// wait waits until color has answered n more requests than when it was
// called.
func (c *dnsClients) wait(t *testing.T, color string, n int) {
	t.Helper()
	answered := func() int { c.mu.Lock(); defer c.mu.Unlock(); return c.byColor[color] }
	from := answered()
	testenv.WaitFor(t, 30*time.Second, color+" answering clients that follow DNS", func() bool { return answered() >= from+n })
}

// stop stops the clients (it may be called again) and returns their
// answers by color, how many requests failed and the first errors.
func (c *dnsClients) stop() (byColor map[string]int, failed int, errs []string) {
	c.cancel()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byColor, c.failed, c.errs
}

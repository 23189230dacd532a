package bluegreen_test

import (
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// mod is the module path.
const mod = "github.com/bluegreen/bluegreen"

// everyPackage, as the only item of an allowed entry, lets that package
// import every package of the module except the test helpers: the wiring.
const everyPackage = "(every package of the module but the test helpers)"

// testHelpers are the packages only tests may import.
var testHelpers = []string{mod + "/internal/testenv", mod + "/internal/bindtest", mod + "/internal/storetest", mod + "/internal/etcdtest", mod + "/internal/sshdtest"}

// allowed lists, for each package of the module, the project packages it
// may import, directly or through another package (go list -deps). Every
// package of the module must have an entry: TestEveryPackageHasAnEntry
// fails on one that does not, so that a new package is placed in the
// layering on purpose, not by accident.
var allowed = map[string][]string{
	// The domain: the standard library only.
	mod: {},

	// Adapters: the domain and their one external library, never each other
	// (runner and internal/sched are shared leaves without a domain).
	mod + "/api":            {mod},
	mod + "/check":          {mod, mod + "/runner", mod + "/internal/sched"},
	mod + "/config":         {mod},
	mod + "/controller":     {mod},
	mod + "/dns":            {mod},
	mod + "/dns/cloud":      {mod, mod + "/dns"},
	mod + "/driver/process": {mod},
	mod + "/driver/command": {mod, mod + "/runner"},
	mod + "/loadgen":        {mod},
	mod + "/notify":         {mod, mod + "/runner"},
	mod + "/release":        {mod, mod + "/runner"},
	mod + "/router":         {mod},
	mod + "/runner":         {},
	mod + "/store/sqlite":   {mod},
	mod + "/store/etcd":     {mod},
	// Several serve instances on one etcd: membership, election, acks, figures.
	mod + "/cluster": {mod},
	// Installs a host's agent over SSH (golang.org/x/crypto/ssh).
	mod + "/agent/sshinstall": {mod},

	// A host's agent: reports to serve, fetches, builds and runs its
	// releases with the process driver.
	mod + "/agent": {mod, mod + "/api", mod + "/driver/process", mod + "/runner"},

	// Internal helpers.
	mod + "/internal/sched":     {},
	mod + "/internal/testenv":   {},
	mod + "/internal/bindtest":  {mod + "/internal/testenv"},
	mod + "/internal/ghactions": {mod},
	mod + "/internal/textout":   {mod},
	mod + "/internal/clidoc":    {},
	mod + "/internal/storetest": {mod},
	mod + "/internal/etcdtest":  {mod + "/internal/testenv"},
	mod + "/internal/sshdtest":  {mod + "/internal/testenv"},
	// Opens the store a config or command line names, and copies one
	// store into another (state copy): wiring of both stores.
	mod + "/internal/statestore": {mod, mod + "/config", mod + "/store/sqlite", mod + "/store/etcd"},
	// The demo runs a daemon in-process and drives it through the API
	// client, like a user would: wiring, like cmd/bluegreen.
	mod + "/internal/demo": {everyPackage},

	// The wiring: main and one file per CLI verb, and the long-running
	// process, which wires the adapters together (only it and
	// cmd/bluegreen do).
	mod + "/cmd/bluegreen": {everyPackage},
	mod + "/daemon": {mod, mod + "/api", mod + "/check", mod + "/config", mod + "/controller", mod + "/dns",
		mod + "/dns/cloud", mod + "/driver/command", mod + "/driver/process", mod + "/internal/sched", mod + "/notify",
		mod + "/release", mod + "/router", mod + "/runner", mod + "/store/sqlite", mod + "/store/etcd",
		mod + "/internal/statestore", mod + "/cluster"},

	// Benchmarks and the load harness: separate programs, measured alone.
	mod + "/bench/backend":           {},
	mod + "/bench/latency":           {mod, mod + "/loadgen"},
	mod + "/bench/memory":            {},
	mod + "/bench/slowclients":       {},
	mod + "/bench/switchbench":       {mod, mod + "/api", mod + "/loadgen", mod + "/bench/internal/benchkit"},
	mod + "/bench/internal/benchkit": {},

	// Starts its own etcd, backends and serves (by PID) and drives them.
	mod + "/bench/clusterbench": {mod, mod + "/api", mod + "/loadgen", mod + "/bench/internal/benchkit"},
	// Starts its own serves and agents (by PID), deploys through the API
	// and stops the apps the agents leave running through the process
	// driver.
	mod + "/bench/agentbench": {mod, mod + "/api", mod + "/driver/process", mod + "/bench/internal/benchkit"},
}

// heavy lists third-party modules (by module path prefix) that only some
// packages may pull in, so that the others build fast. A module with no
// users is allowed nowhere yet: the change that first needs it names the
// package that may use it here.
var heavy = map[string][]string{
	"modernc.org/sqlite":               {mod + "/store/sqlite", mod + "/internal/statestore", mod + "/daemon", mod + "/internal/demo", mod + "/cmd/bluegreen"},
	"github.com/miekg/dns":             {mod + "/dns", mod + "/internal/bindtest", mod + "/daemon", mod + "/internal/demo", mod + "/cmd/bluegreen"},
	"github.com/libdns":                {mod + "/dns/cloud", mod + "/daemon", mod + "/internal/demo", mod + "/cmd/bluegreen"},
	"github.com/aws":                   {mod + "/dns/cloud", mod + "/daemon", mod + "/internal/demo", mod + "/cmd/bluegreen"},
	"go.etcd.io/etcd":                  {mod + "/store/etcd", mod + "/cluster", mod + "/internal/statestore", mod + "/daemon", mod + "/internal/demo", mod + "/cmd/bluegreen"},
	"golang.org/x/crypto/ssh":          {mod + "/agent/sshinstall", mod + "/internal/sshdtest", mod + "/cmd/bluegreen"},
	"github.com/chromedp":              {},
	"github.com/caddyserver/certmagic": {},
}

// modulePackages returns every package of the module (go list ./...) with
// everything it depends on, directly or not (go list's Deps).
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...")
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list ./...: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list ./...: %v", err)
	}
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkgs[f[0]] = f[1:]
	}
	if _, ok := pkgs[mod]; !ok {
		t.Fatalf("go list ./... did not list the module's root package %s (run the test from the module root)", mod)
	}
	return pkgs
}

// TestEveryPackageHasAnEntry walks every package of the module and fails on
// one that allowed does not know, and on an entry for a package that no
// longer exists.
func TestEveryPackageHasAnEntry(t *testing.T) {
	pkgs := modulePackages(t)
	for _, pkg := range slices.Sorted(maps.Keys(pkgs)) {
		if _, ok := allowed[pkg]; !ok {
			t.Errorf("package %s has no entry in the allowed map of deps_test.go: add one listing the project packages it may import (see STYLE.md: imports point toward the root)", pkg)
		}
	}
	for _, pkg := range slices.Sorted(maps.Keys(allowed)) {
		if _, ok := pkgs[pkg]; !ok {
			t.Errorf("deps_test.go's allowed map has an entry for %s, which is not a package of the module (go list ./...): remove it", pkg)
		}
	}
}

// TestImportsPointTowardTheRoot keeps the layering of STYLE.md: the domain
// imports only the standard library, adapters never import each other, and
// only cmd/bluegreen and daemon wire concrete types together.
func TestImportsPointTowardTheRoot(t *testing.T) {
	pkgs := modulePackages(t)
	for _, pkg := range slices.Sorted(maps.Keys(pkgs)) {
		ok, known := allowed[pkg]
		if !known {
			continue // TestEveryPackageHasAnEntry says so
		}
		for _, dep := range pkgs[pkg] {
			if dep == mod || strings.HasPrefix(dep, mod+"/") {
				wiring := len(ok) == 1 && ok[0] == everyPackage
				if wiring && slices.Contains(testHelpers, dep) {
					t.Errorf("%s imports the test helper %s; only tests may", pkg, dep)
				}
				if !wiring && !slices.Contains(ok, dep) {
					t.Errorf("%s imports %s; it may import only %v", pkg, dep, ok)
				}
			}
			for heavyMod, users := range heavy {
				if (dep == heavyMod || strings.HasPrefix(dep, heavyMod+"/")) && !slices.Contains(users, pkg) {
					t.Errorf("%s pulls in %s; only %v may", pkg, heavyMod, users)
				}
			}
			if pkg == mod && strings.Contains(strings.SplitN(dep, "/", 2)[0], ".") {
				t.Errorf("the domain package depends on %s; it must use the standard library only", dep)
			}
		}
	}
}

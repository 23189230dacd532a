package bluegreen_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsPointTowardTheRoot keeps the layering of STYLE.md: the domain
// imports only the standard library, adapters never import each other, and
// only cmd/bluegreen and daemon wire concrete types together.
func TestImportsPointTowardTheRoot(t *testing.T) {
	const mod = "github.com/bluegreen/bluegreen"
	// allowed lists, for each package, the project packages it may import.
	allowed := map[string][]string{
		mod:                     {},
		mod + "/config":         {mod},
		mod + "/check":          {mod, mod + "/runner", mod + "/internal/sched"},
		mod + "/internal/sched": {},
		mod + "/runner":         {},
		mod + "/dns":            {mod},
		mod + "/dns/cloud":      {mod, mod + "/dns"},
		mod + "/notify":         {mod, mod + "/runner"},
		mod + "/controller":     {mod},
		mod + "/router":         {mod},
		mod + "/store/sqlite":   {mod},
		mod + "/api":            {mod},
		mod + "/loadgen":        {mod},
		mod + "/release":        {mod, mod + "/runner"},
		mod + "/driver/process": {mod},
		mod + "/driver/command": {mod, mod + "/runner"},
		// daemon wires the adapters together (only it and cmd/bluegreen do).
		mod + "/daemon": {mod, mod + "/api", mod + "/check", mod + "/config", mod + "/controller", mod + "/dns",
			mod + "/dns/cloud", mod + "/driver/command", mod + "/driver/process", mod + "/internal/sched", mod + "/notify",
			mod + "/release", mod + "/router", mod + "/runner", mod + "/store/sqlite"},
	}
	// heavy lists third-party modules that only some packages may pull in,
	// so that the others build fast.
	heavy := map[string][]string{
		"modernc.org/sqlite":   {mod + "/store/sqlite", mod + "/daemon"},
		"github.com/miekg/dns": {mod + "/dns", mod + "/daemon"},
		"github.com/libdns":    {mod + "/dns/cloud", mod + "/daemon"},
		"github.com/aws":       {mod + "/dns/cloud", mod + "/daemon"},
	}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == pkg {
				continue
			}
			if strings.HasPrefix(dep, mod+"/") || dep == mod {
				if !contains(ok, dep) {
					t.Errorf("%s imports %s; it may import only %v", pkg, dep, ok)
				}
			}
			for heavyMod, users := range heavy {
				if strings.HasPrefix(dep, heavyMod) && !contains(users, pkg) {
					t.Errorf("%s pulls in %s; only %v may", pkg, heavyMod, users)
				}
			}
		}
		if pkg == mod {
			for _, dep := range strings.Fields(string(out)) {
				if strings.Contains(strings.SplitN(dep, "/", 2)[0], ".") && dep != mod {
					t.Errorf("the domain package depends on %s; it must use the standard library only", dep)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

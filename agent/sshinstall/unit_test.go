package sshinstall

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
)

// shipped is the agent's unit as the project ships it.
const shipped = "../../examples/systemd/bluegreen-agent.service"

// TestUnitFollowsTheShippedOne checks that the unit Install writes has
// the [Service] directives of the shipped unit that say how the agent runs
// (Type, KillMode, Restart, RestartSec, TimeoutStopSec), with the same
// values.
func TestUnitFollowsTheShippedOne(t *testing.T) {
	want, err := directives(shipped)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is not in this tree yet", shipped)
	}
	if err != nil {
		t.Fatal(err)
	}
	text, err := unitText(Options{Host: "app-3", Dir: "/d", Server: "https://s", TokenFile: "/d/t", RemoteBinary: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "unit")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(text)
	f.Close()
	got, err := directives(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	// Not User and Group: the installed agent runs as the user who logged
	// in over SSH, the shipped example (a setup by hand) as its own user.
	for _, k := range []string{"Type", "KillMode", "Restart", "RestartSec", "TimeoutStopSec"} {
		if got[k] != want[k] {
			t.Errorf("the installed unit has %s=%q, the shipped one %s=%q", k, got[k], k, want[k])
		}
	}
}

// directives reads the [Service] section of a unit file: key to value.
func directives(file string) (map[string]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, section := map[string]string{}, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			d[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return d, sc.Err()
}

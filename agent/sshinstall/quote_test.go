package sshinstall

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen/internal/testenv"
)

// hostile are values a user or a config could hand the installer, each
// meant to break out of a command line.
var hostile = []string{
	"", " ", "'", "''", `a'b`, `'; touch /tmp/pwned; '`, `$(id)`, "`id`", `${HOME}`, `$HOME`, `"`, `\`, `\'`,
	"a\nb", "a\tb", "; rm -rf /", "&& id", "| id", "> /etc/passwd", "*", "?", "[a]", "~", "~root", "-n", "--",
	"#comment", "!", "a b  c", "é ü 日本", "\x01\x7f", "%s %% %n", "{a,b}", "$((1+1))",
}

// TestQuote runs each hostile value through the shells a host may use,
// quoted as one word, and checks the word the command received is the value.
func TestQuote(t *testing.T) {
	shells := []string{testenv.LookPath(t, "sh", "dash", "/bin/sh")}
	if bash, err := exec.LookPath("bash"); err == nil {
		shells = append(shells, bash)
	}
	for _, sh := range shells {
		for _, v := range hostile {
			got := echo(t, sh, Quote(v))
			if got != v {
				t.Errorf("%s: %s printed %q, want %q", sh, Quote(v), got, v)
			}
		}
	}
}

// echo runs printf '%s\000' WORD in sh and returns the one argument printf
// got (an argument cannot hold a NUL byte).
func echo(t *testing.T, sh, word string) string {
	t.Helper()
	out, err := exec.Command(sh, "-c", `printf '%s\000' `+word).Output()
	if err != nil {
		t.Fatalf("%s -c printf %s: %v", sh, word, err)
	}
	if n := strings.Count(string(out), "\x00"); n != 1 {
		t.Fatalf("%s: %s made %d words, want 1: %q", sh, word, n, out)
	}
	return strings.TrimSuffix(string(out), "\x00")
}

// TestShellf checks that shellf quotes every value and leaves the format
// as it is.
func TestShellf(t *testing.T) {
	got := shellf(`mkdir -p -- %s && cat > %s`, "/tmp/a b", "it's")
	if want := `mkdir -p -- '/tmp/a b' && cat > 'it'\''s'`; got != want {
		t.Errorf("shellf = %s, want %s", got, want)
	}
}

// TestUnitQuote checks the words of a unit's ExecStart=.
func TestUnitQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/usr/local/bin/bluegreen", "/usr/local/bin/bluegreen"},
		{"https://serve.example:8443/", "https://serve.example:8443/"},
		{"--token-file", "--token-file"},
		{"", `""`},
		{"/srv/a b", `"/srv/a b"`},
		{`it's "x"`, `"it's \"x\""`},
		{`a\b`, `"a\\b"`},
		{"100%", `"100%%"`},
		{"$HOME", `"$$HOME"`},
		{"http://h/%41?a=$b", `"http://h/%%41?a=$$b"`},
	} {
		got, err := unitQuote(c.in)
		if err != nil || got != c.want {
			t.Errorf("unitQuote(%q) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"a\nExecStartPre=/bin/evil", "a\rb", "a\x00b", "\x7f"} {
		if got, err := unitQuote(bad); err == nil {
			t.Errorf("unitQuote(%q) = %s, want an error", bad, got)
		}
	}
}

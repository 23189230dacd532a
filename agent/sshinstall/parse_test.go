package sshinstall

import (
	"debug/elf"
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	for _, c := range []struct{ in, user, addr string }{
		{"root@app-3", "root", "app-3:22"},
		{"deploy@10.0.0.3:2222", "deploy", "10.0.0.3:2222"},
		{"me@[::1]:2200", "me", "[::1]:2200"},
		{"me@[fe80::1]", "me", "[fe80::1]:22"},
		{"me@fe80::1", "me", "[fe80::1]:22"},
		{"a@b@host", "a@b", "host:22"},
	} {
		user, addr, err := parseTarget(c.in)
		if err != nil || user != c.user || addr != c.addr {
			t.Errorf("parseTarget(%q) = %q, %q, %v; want %q, %q", c.in, user, addr, err, c.user, c.addr)
		}
	}
	for _, bad := range []string{"", "host", "@host", "root@", "root@host:", "root@host:0", "root@host:99999",
		"root@host:ssh", "root@[::1", "root@a b", "root@/x"} {
		if user, addr, err := parseTarget(bad); err == nil {
			t.Errorf("parseTarget(%q) = %q, %q; want an error", bad, user, addr)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"root@app-3", "u@10.0.0.3:2222", "u@[::1]:22", "u@::1", "@", "u@[", "u@h:", "a@b@c:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		user, addr, err := parseTarget(s)
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || user == "" || host == "" {
			t.Fatalf("parseTarget(%q) = %q, %q: not a user and a host:port (%v)", s, user, addr, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("parseTarget(%q) gave port %q", s, port)
		}
		if u2, a2, err := parseTarget(user + "@" + addr); err != nil || u2 != user || a2 != addr {
			t.Fatalf("parseTarget(%q) = %q, %q, %v; want it unchanged", user+"@"+addr, u2, a2, err)
		}
	})
}

func FuzzParsePID(f *testing.F) {
	for _, s := range []string{"1234\n", "", "0", "-1", " 7 ", "12a", "99999999999999999999", "+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pid, ok := parsePID(s)
		if !ok {
			return
		}
		if pid <= 0 {
			t.Fatalf("parsePID(%q) = %d, ok", s, pid)
		}
		if again, ok := parsePID(strconv.Itoa(pid)); !ok || again != pid {
			t.Fatalf("parsePID(%d) = %d, %v", pid, again, ok)
		}
	})
}

func TestIsAgentOf(t *testing.T) {
	const dir = "/var/lib/bluegreen-agent"
	for _, c := range []struct {
		cmdline string
		want    bool
	}{
		{"/usr/local/bin/bluegreen\x00agent\x00--host\x00app-3\x00--dir\x00" + dir + "\x00", true},
		{"/bin/sh\x00/usr/local/bin/bluegreen\x00agent\x00--dir=" + dir + "\x00", true},
		{"/usr/local/bin/bluegreen\x00agent\x00--dir\x00/other\x00", false},
		{"/usr/local/bin/bluegreen\x00serve\x00--dir\x00" + dir + "\x00", false},
		{"/usr/sbin/nginx\x00", false},
		{"", false},
		{"agent\x00--dir\x00", false},
	} {
		if got := isAgentOf(c.cmdline, dir); got != c.want {
			t.Errorf("isAgentOf(%q) = %v, want %v", c.cmdline, got, c.want)
		}
	}
}

func FuzzIsAgentOf(f *testing.F) {
	f.Add("/usr/local/bin/bluegreen\x00agent\x00--dir\x00/d\x00", "/d")
	f.Add("", "")
	f.Add("agent\x00--dir", "")
	f.Fuzz(func(t *testing.T, cmdline, dir string) {
		isAgentOf(cmdline, dir) // never panics
		if strings.Contains(dir, "\x00") {
			return
		}
		own := strings.Join([]string{"/usr/local/bin/bluegreen", "agent", "--dir", dir}, "\x00") + "\x00"
		if !isAgentOf(own, dir) {
			t.Fatalf("isAgentOf(%q, %q) = false for the agent of %q", own, dir, dir)
		}
	})
}

func TestParseUname(t *testing.T) {
	for _, c := range []struct {
		out, kernel string
		m           elf.Machine
		known, ok   bool
	}{
		{"Linux x86_64\n", "Linux", elf.EM_X86_64, true, true},
		{"Linux aarch64\n", "Linux", elf.EM_AARCH64, true, true},
		{"FreeBSD amd64\n", "FreeBSD", elf.EM_X86_64, true, true},
		{"Linux sparc64\n", "Linux", 0, false, true},
		{"", "", 0, false, false},
		{"Linux\n", "", 0, false, false},
		{"Linux x86_64 extra\n", "", 0, false, false},
	} {
		kernel, m, known, err := parseUname(c.out)
		if kernel != c.kernel || m != c.m || known != c.known || (err == nil) != c.ok {
			t.Errorf("parseUname(%q) = %q, %v, %v, %v; want %q, %v, %v, ok %v", c.out, kernel, m, known, err, c.kernel, c.m, c.known, c.ok)
		}
	}
}

func FuzzParseUname(f *testing.F) {
	for _, s := range []string{"Linux x86_64\n", "", "Linux", " a  b ", "Linux armv7l\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, out string) {
		kernel, m, known, err := parseUname(out)
		if err != nil {
			return
		}
		if kernel == "" || strings.ContainsAny(kernel, " \t\n") || (known && m == 0) {
			t.Fatalf("parseUname(%q) = %q, %v, %v", out, kernel, m, known)
		}
	})
}

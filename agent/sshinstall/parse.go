package sshinstall

// The parsers of this package: the target the user gives, and what the
// host answers (a pid, a process's command line, uname). Each is fuzzed.

import (
	"debug/elf"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// parseTarget splits user@host[:port] into the user and a host:port
// (port 22 when none is given; an IPv6 address in brackets with or
// without a port, or bare without one).
func parseTarget(s string) (user, addr string, err error) {
	at := strings.LastIndex(s, "@")
	if at <= 0 || at == len(s)-1 {
		return "", "", fmt.Errorf("target %q: want user@host or user@host:port", s)
	}
	user, hp := s[:at], s[at+1:]
	host, port := hp, "22"
	switch {
	case strings.HasPrefix(hp, "[") && strings.HasSuffix(hp, "]"):
		host = hp[1 : len(hp)-1]
	case strings.Count(hp, ":") == 1 || strings.HasPrefix(hp, "["):
		if host, port, err = net.SplitHostPort(hp); err != nil {
			return "", "", fmt.Errorf("target %q: %v", s, err)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("target %q: port %q is not a port number", s, port)
	}
	if host == "" || strings.ContainsAny(host, "[]@/ \t\r\n") || strings.ContainsAny(user, "\x00\r\n") {
		return "", "", fmt.Errorf("target %q: want user@host or user@host:port", s)
	}
	return user, net.JoinHostPort(host, port), nil
}

// parsePID reads a pid file's content (or a command's output): one
// positive number, blanks around it allowed. ok is false for anything
// else (an empty or a damaged file).
func parsePID(s string) (pid int, ok bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// isAgentOf reports whether cmdline, a /proc/PID/cmdline (arguments ended
// by NUL bytes), is a bluegreen agent of the directory dir: it has the
// word "agent" and "--dir" followed by dir. A pid file can outlive its
// process (a reboot): its pid is stopped only when this holds.
func isAgentOf(cmdline, dir string) bool {
	args := strings.Split(strings.TrimSuffix(cmdline, "\x00"), "\x00")
	if !slices.Contains(args, "agent") {
		return false
	}
	for i, a := range args {
		if a == "--dir="+dir || (a == "--dir" && i+1 < len(args) && args[i+1] == dir) {
			return true
		}
	}
	return false
}

// unameMachines maps the machine names of `uname -m` to ELF machines.
var unameMachines = map[string]elf.Machine{
	"x86_64": elf.EM_X86_64, "amd64": elf.EM_X86_64,
	"aarch64": elf.EM_AARCH64, "arm64": elf.EM_AARCH64,
	"i386": elf.EM_386, "i486": elf.EM_386, "i586": elf.EM_386, "i686": elf.EM_386,
	"armv6l": elf.EM_ARM, "armv7l": elf.EM_ARM, "armv8l": elf.EM_ARM,
	"riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "ppc64": elf.EM_PPC64, "s390x": elf.EM_S390,
	"loongarch64": elf.EM_LOONGARCH, "mips64": elf.EM_MIPS,
}

// parseUname reads the output of `uname -s -m`: the kernel's name and the
// machine, which known is false for a machine unameMachines lacks.
func parseUname(out string) (kernel string, m elf.Machine, known bool, err error) {
	f := strings.Fields(out)
	if len(f) != 2 {
		return "", 0, false, fmt.Errorf("unexpected answer to uname -s -m: %q", out)
	}
	m, known = unameMachines[f[1]]
	return f[0], m, known, nil
}

package daemon

// Socket activation: systemd (or any manager speaking its protocol,
// sd_listen_fds(3)) opens serve's listening sockets and passes them to it
// as descriptors 3, 4, ... with LISTEN_FDS (how many), LISTEN_PID (for which
// process) and LISTEN_FDNAMES (their FileDescriptorName=, colon-separated).
// The sockets stay open in the manager while serve restarts, so a client
// that connects meanwhile waits in the kernel's backlog instead of being
// refused, and is served by the next serve. examples/systemd has the units.

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/bluegreen/bluegreen/config"
)

// The socket activation environment (sd_listen_fds(3)).
const (
	envSDListenFDs   = "LISTEN_FDS"
	envSDListenPID   = "LISTEN_PID"
	envSDListenNames = "LISTEN_FDNAMES"
	sdListenFDsStart = 3
)

// bindListeners returns serve's public, preview and API listeners: those
// the service manager passed (own only: the demo runs serve inside its own
// process), the others bound to the configured addresses. It binds all or
// none.
func bindListeners(own bool, cfg *config.Config, logger *slog.Logger) ([]net.Listener, error) {
	addrs := []string{cfg.Listen, cfg.Preview, cfg.API}
	if !own {
		return listenAll(addrs...)
	}
	lns, err := takeActivation(logger, addrs)
	if err != nil || lns == nil {
		if err != nil {
			return nil, fmt.Errorf("socket activation: %w", err)
		}
		return listenAll(addrs...)
	}
	var passed []string
	for i, ln := range lns {
		if ln != nil {
			passed = append(passed, listenerNames[i])
			continue
		}
		if lns[i], err = net.Listen("tcp", addrs[i]); err != nil {
			closeAll(slices.DeleteFunc(lns, func(l net.Listener) bool { return l == nil }))
			return nil, fmt.Errorf("%s address %s: %w", [...]string{"listen", "preview", "api"}[i], addrs[i], err)
		}
	}
	logger.Info("socket activation: listening on the sockets the service manager passed", "sockets", strings.Join(passed, ","))
	return lns, nil
}

// takeActivation reads the socket activation environment and removes it
// (the processes serve starts must not take the variables for theirs). It
// returns the listeners passed, indexed like listenerNames (nil where none
// was passed), or nil when serve was not socket-activated. A socket is
// matched by its name (FileDescriptorName=public, preview or api; listen is public too) or,
// unnamed, by its address among addrs; every socket passed must listen where
// the configuration says.
func takeActivation(logger *slog.Logger, addrs []string) ([]net.Listener, error) {
	count, pid, names := os.Getenv(envSDListenFDs), os.Getenv(envSDListenPID), os.Getenv(envSDListenNames)
	for _, k := range []string{envSDListenFDs, envSDListenPID, envSDListenNames} {
		os.Unsetenv(k)
	}
	if count == "" {
		return nil, nil
	}
	if pid != strconv.Itoa(os.Getpid()) {
		// The protocol's rule: the descriptors are not this process's
		// (a wrapper that forked instead of exec'ing?).
		logger.Warn("socket activation: LISTEN_FDS is set for another process; ignored (start serve with exec)",
			"LISTEN_PID", pid, "pid", os.Getpid())
		return nil, nil
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 || n > len(listenerNames) {
		return nil, fmt.Errorf("%s=%q: want 1 to %d sockets (public, preview, api)", envSDListenFDs, count, len(listenerNames))
	}
	var fdNames []string
	if names != "" {
		fdNames = strings.Split(names, ":")
	}
	got := make([]net.Listener, len(listenerNames))
	var all []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		closeAll(all)
		return nil, err
	}
	for i := range n {
		fd := sdListenFDsStart + i
		name := ""
		if len(fdNames) == n {
			name = fdNames[i]
		}
		what := fmt.Sprintf("descriptor %d", fd)
		if name != "" {
			what += fmt.Sprintf(" (%q)", name)
		}
		f, err := inheritedFile(envSDListenFDs, strconv.Itoa(fd), name)
		if err != nil {
			return fail(err)
		}
		ln, err := net.FileListener(f) // a duplicate: f is not needed after
		f.Close()
		if err != nil {
			return fail(fmt.Errorf("%s is not a listening TCP socket: %w", what, err))
		}
		all = append(all, ln)
		if name == "listen" {
			name = "public" // the configuration's name for it
		}
		slot := slices.Index(listenerNames[:], name)
		if slot < 0 {
			// Unnamed (or named after its unit): the configured address
			// it listens on says which it is.
			slot = slices.IndexFunc(addrs, func(a string) bool { return sameAddr(a, ln.Addr()) })
			for slot >= 0 && got[slot] != nil { // port 0 matches any port: take the next free one
				next := slices.IndexFunc(addrs[slot+1:], func(a string) bool { return sameAddr(a, ln.Addr()) })
				if next < 0 {
					slot = -1
					break
				}
				slot += 1 + next
			}
			if slot < 0 {
				return fail(fmt.Errorf("%s listens on %s, which is none of the configured addresses (listen %s, preview %s, api %s); name it with FileDescriptorName=public, preview or api",
					what, ln.Addr(), addrs[0], addrs[1], addrs[2]))
			}
		}
		if got[slot] != nil {
			return fail(fmt.Errorf("%s: a second %s socket", what, listenerNames[slot]))
		}
		if !sameAddr(addrs[slot], ln.Addr()) {
			return fail(fmt.Errorf("the %s socket (%s) listens on %s, but the configuration says %s",
				listenerNames[slot], what, ln.Addr(), addrs[slot]))
		}
		got[slot] = ln
	}
	return got, nil
}

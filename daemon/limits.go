package daemon

import (
	"math"
	"os"
	"runtime/debug"
	"syscall"
)

// fdReserve is the part of serve's file descriptor limit kept out of the
// client listeners' connection caps: the API's connections, the state
// database, logs, the apps' pipes, health checks and DNS.
const fdReserve = 256

// connectionCaps returns the public and preview listeners' connection caps
// (router.Server.SetMaxConnections). configured (router.max_connections),
// when positive, caps each listener. Otherwise they come from nofile, the
// process's file descriptor limit: half of what is left after fdReserve
// goes to client connections (three quarters of that to the public
// listener), the other half stays for the upstream connection each
// client connection may hold. A flood of clients then waits in the kernel's
// listen backlog instead of taking the descriptors the API and the
// upstream connections need.
func connectionCaps(nofile uint64, configured int) (public, preview int) {
	if configured > 0 {
		return configured, configured
	}
	if nofile > 1<<24 {
		nofile = 1 << 24
	}
	clients := (int(nofile) - fdReserve) / 2
	if clients < 64 {
		clients = 64
	}
	return clients * 3 / 4, clients - clients*3/4
}

// fileLimit is the process's file descriptor limit (the Go runtime raised
// its soft limit to the hard one at start), or 1024 when unknown.
func fileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024
	}
	return rl.Cur
}

// tuneMemory sets serve's soft memory limit: GOMEMLIMIT when set (the
// runtime applied it), else configured (router.memory_limit, 512 MiB by
// default; 0 for none). Past it the garbage collector works harder to stay
// under it (it never fails an allocation) and the runtime returns freed
// memory to the system, so that a burst (thousands of slow clients) does
// not leave serve holding its peak. It returns the limit in force.
func tuneMemory(configured int64) int64 {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return debug.SetMemoryLimit(-1)
	}
	if configured <= 0 {
		configured = math.MaxInt64
	}
	debug.SetMemoryLimit(configured)
	return configured
}

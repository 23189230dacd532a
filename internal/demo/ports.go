package demo

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// freePortBase is the lowest port FreePort hands out.
const freePortBase = 20000

// FreePort returns a port on 127.0.0.1 that nothing listens on, for a
// process started later (the demo's apps; the tests' apps and listeners),
// other than the ports in given. A port the kernel picks for a bind to port
// 0 is no good for that: it comes from the ephemeral range, where the kernel
// may hand it out again in between, to another bind to port 0 or to an
// outgoing connection (which then takes the app's port, or connects to
// itself through it when a health check dials it before the app listens).
// So the port comes from below that range. FreePort only reads given: a
// caller handing out several ports adds each one to it (and guards it with
// a lock when it is shared between goroutines).
func FreePort(given map[int]bool) (int, error) {
	low := ephemeralLow()
	for range 1000 {
		port := freePortBase + rand.IntN(low-freePortBase)
		if given[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // taken by someone else
		}
		ln.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port on 127.0.0.1 between %d and %d", freePortBase, low)
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read, the Linux default).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= freePortBase+1000 {
		return 32768
	}
	return n
}

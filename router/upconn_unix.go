//go:build unix

package router

import (
	"net"
	"syscall"
)

// alive reports whether an idle connection is still open: a non-blocking
// peek that finds nothing to read says so; end of stream, an error, or
// bytes nobody asked for say it is not. It costs one system call.
func alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, perr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = perr == syscall.EAGAIN
		return true // never wait for the socket to become readable
	})
	return err == nil && open
}

//go:build !unix

package router

import "net"

// alive cannot check a connection on this platform; a dead one is found
// when the request fails on it.
func alive(net.Conn) bool { return true }

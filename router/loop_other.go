//go:build !linux

package router

import (
	"errors"
	"net"
	"sync/atomic"
)

// loopAvailable says whether this platform has the event loop.
const loopAvailable = false

// evloop is the event loop of Options.EventLoop, which needs Linux (epoll);
// elsewhere the goroutine path serves every connection.
type evloop struct {
	rt     *Router
	served atomic.Int64
	made   atomic.Int64
}

func newLoop(*Server, *handler) (*evloop, error) {
	return nil, errors.New("the event loop needs Linux")
}

func (l *evloop) run()                        {}
func (l *evloop) accept(net.Conn)             {}
func (l *evloop) post(func()) bool            { return false }
func (l *evloop) stop()                       {}
func (l *evloop) shutdown()                   {}
func (l *evloop) closeIdle(func(string) bool) {}

package router

import (
	"net"
	"strconv"
	"sync/atomic"

	"github.com/bluegreen/bluegreen"
)

// colorIdx indexes per-color arrays: 0 is blue, 1 is green.
type colorIdx int

func indexOf(c bluegreen.Color) colorIdx {
	if c == bluegreen.Green {
		return 1
	}
	return 0
}

func (i colorIdx) color() bluegreen.Color { return bluegreen.Colors[i] }

func (i colorIdx) other() colorIdx { return 1 - i }

// upstream is one address of a color, with its precomputed 502 answer.
type upstream struct {
	addr string
	down errorBody
}

// pool is the immutable set of upstreams of one color. SetUpstreams replaces
// the whole pool; only next changes, and it is only a round-robin cursor.
type pool struct {
	color colorIdx
	ups   []*upstream
	none  errorBody // the answer when ups is empty
	next  atomic.Uint64
}

// pick returns the next upstream in round-robin order and the sequence
// number it used (also a hint for spreading other per-request work).
func (p *pool) pick() (*upstream, uint64) {
	seq := p.next.Add(1) - 1
	return p.ups[seq%uint64(len(p.ups))], seq
}

func newPool(c colorIdx, addrs []string) (*pool, error) {
	p := &pool{color: c, none: newErrorBody("bluegreen: " + c.color().String() + " has no upstreams\n")}
	for _, a := range addrs {
		if err := validAddr(a); err != nil {
			return nil, err
		}
		p.ups = append(p.ups, &upstream{
			addr: a,
			down: newErrorBody("bluegreen: " + c.color().String() + " upstream " + a + " unavailable\n"),
		})
	}
	return p, nil
}

func (p *pool) addrs() []string {
	out := make([]string, len(p.ups))
	for i, u := range p.ups {
		out[i] = u.addr
	}
	return out
}

// validAddr accepts host:port with a non-empty host and a numeric port.
func validAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return bluegreen.Errorf(bluegreen.EINVALID, "upstream %q: want host:port", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bluegreen.Errorf(bluegreen.EINVALID, "upstream %q: port must be 1-65535", a)
	}
	return nil
}

// errorBody is a precomputed plain-text answer the router writes itself.
type errorBody struct {
	body   []byte
	length []string // Content-Length header value
}

func newErrorBody(s string) errorBody {
	return errorBody{body: []byte(s), length: []string{strconv.Itoa(len(s))}}
}

package router

import (
	"bufio"
	"context"
	"net"
	"sync"
	"time"
)

// upConn is one kept-alive HTTP/1.1 connection to an upstream. It is owned
// by exactly one request at a time (or by its connPool while idle). An
// idle connection holds no buffers: the request borrows a reader and a
// writer from the shared pools while it uses the connection.
type upConn struct {
	nc     net.Conn
	pool   *connPool
	idleAt time.Time
	reused bool // taken from the idle pool, not freshly dialled
}

// connPool is the set of idle connections to one upstream address: a
// buffered channel, so taking and returning a connection is one
// non-blocking channel operation and never waits.
type connPool struct {
	addr string
	idle chan *upConn
}

// get returns an idle connection that has not been idle too long, or nil.
func (p *connPool) get(now time.Time) *upConn {
	for {
		select {
		case pc := <-p.idle:
			if now.Sub(pc.idleAt) > idleConnTimeout {
				pc.nc.Close()
				continue
			}
			pc.reused = true
			return pc
		default:
			return nil
		}
	}
}

// put keeps pc for a later request, or closes it when the pool is full.
func (p *connPool) put(pc *upConn, now time.Time) {
	pc.idleAt = now
	select {
	case p.idle <- pc:
	default:
		pc.nc.Close()
	}
}

// closeIdle closes the connections idle right now.
func (p *connPool) closeIdle() {
	for {
		select {
		case pc := <-p.idle:
			pc.nc.Close()
		default:
			return
		}
	}
}

// connPools maps upstream addresses to their pools. Pools outlive
// SetUpstreams (an address that comes back finds its connections); Close
// empties them.
type connPools struct {
	dialer net.Dialer
	m      sync.Map // addr string -> *connPool
}

func (ps *connPools) pool(addr string) *connPool {
	if p, ok := ps.m.Load(addr); ok {
		return p.(*connPool)
	}
	p, _ := ps.m.LoadOrStore(addr, &connPool{addr: addr, idle: make(chan *upConn, maxIdleConnsPerHost)})
	return p.(*connPool)
}

// dial opens a fresh connection to addr.
func (ps *connPools) dial(ctx context.Context, p *connPool) (*upConn, error) {
	nc, err := ps.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	return &upConn{nc: nc, pool: p}, nil
}

// prune forgets the pools of the addresses keep rejects and closes their
// idle connections. A request still using one of their connections closes
// it or parks it in the forgotten pool, where the garbage collector finds
// it (and closes it) once the pool is unreachable.
func (ps *connPools) prune(keep func(addr string) bool) {
	ps.m.Range(func(k, v any) bool {
		if !keep(k.(string)) {
			ps.m.Delete(k)
			v.(*connPool).closeIdle()
		}
		return true
	})
}

func (ps *connPools) closeIdle() {
	ps.m.Range(func(_, v any) bool {
		v.(*connPool).closeIdle()
		return true
	})
}

// Buffers borrowed per exchange. Readers are returned only when they hold
// no unread bytes.
var (
	readerPool sync.Pool // *bufio.Reader
	writerPool sync.Pool // *bufio.Writer
)

const connBufferSize = 4 << 10

func getReader(nc net.Conn) *bufio.Reader {
	if br, ok := readerPool.Get().(*bufio.Reader); ok {
		br.Reset(nc)
		return br
	}
	return bufio.NewReaderSize(nc, connBufferSize)
}

func putReader(br *bufio.Reader) {
	br.Reset(nil)
	readerPool.Put(br)
}

func getWriter(nc net.Conn) *bufio.Writer {
	if bw, ok := writerPool.Get().(*bufio.Writer); ok {
		bw.Reset(nc)
		return bw
	}
	return bufio.NewWriterSize(nc, connBufferSize)
}

func putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	writerPool.Put(bw)
}

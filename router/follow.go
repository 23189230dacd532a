package router

import (
	"io"
	"net/http"
	"strconv"
	"sync"
)

// headFollower gives the connections net/http serves the router's head
// policy (vetHead). net/http reads such a connection itself (an unusual
// request handed over, a head over the fast path's buffer, data_path:
// standard), so the follower watches the bytes as net/http reads them
// (replayConn.Read feeds it): it finds each request head, vets it and
// queues the verdict, then follows the body by the head's framing
// (Content-Length or chunked, the chunkScanner) to the next head. The
// router's handler takes the verdicts in order (take), one per request
// net/http parsed: net/http parses a request only from bytes that went
// through the follower, so its verdict is always queued first.
//
// After a refused head, a tunnel (CONNECT, Upgrade) or a framing it
// cannot follow, it stops: that request's verdict says so (last), and the
// handler closes the connection after its answer, so that no request
// after it is served unvetted.
//
// feed is called by net/http's reads, which never overlap; take by the
// handler's goroutine. The queue is under mu.
type headFollower struct {
	lim headLimits

	// The reading side.
	state  int // followHead, followLength, followChunks or followStopped
	heads  int // heads found
	head   []byte
	left   int64
	chunks chunkScanner

	mu       sync.Mutex
	verdicts []followed
}

// followed is one head's verdict, and whether the follower stopped after
// it.
type followed struct {
	headVerdict
	last bool
}

const (
	followHead = iota
	followLength
	followChunks
	followStopped
)

// headMemory is the head buffer a follower keeps between requests; a
// larger one (a big head) is let go.
const headMemory = 4 << 10

func newHeadFollower(lim headLimits) *headFollower {
	return &headFollower{lim: lim}
}

// feed follows p, the next bytes read from the connection.
func (f *headFollower) feed(p []byte) {
	for len(p) > 0 {
		switch f.state {
		case followStopped:
			return
		case followHead:
			if len(f.head) == 0 {
				// Empty lines before a request line (RFC 9112 2.2).
				for len(p) > 0 && (p[0] == '\r' || p[0] == '\n') {
					p = p[1:]
				}
				if len(p) == 0 {
					return
				}
			}
			before := len(f.head)
			f.head = append(f.head, p...)
			n := blankLineEnd(f.head, max(before-2, 0))
			if n == 0 {
				if len(f.head) > f.lim.maxBytes {
					f.push(verdictTooLarge, true)
					f.stop()
				}
				return
			}
			p = p[n-before:]
			head := f.head[:n]
			f.heads++
			v := vetHead(head, f.lim)
			fr := framingOf(head)
			last := v.status != 0 || fr.tunnel || fr.bad
			f.push(v, last)
			if cap(f.head) > headMemory {
				f.head = nil
			} else {
				f.head = f.head[:0]
			}
			switch {
			case last:
				f.stop()
				return
			case fr.chunked:
				f.state, f.chunks = followChunks, chunkScanner{}
			case fr.length > 0:
				f.state, f.left = followLength, fr.length
			}
		case followLength:
			n := int64(len(p))
			if n > f.left {
				n = f.left
			}
			f.left -= n
			p = p[n:]
			if f.left == 0 {
				f.state = followHead
			}
		case followChunks:
			n, end, err := f.chunks.scan(p)
			if err != nil {
				// net/http fails the body too, and closes.
				f.stop()
				return
			}
			p = p[n:]
			if end {
				f.state = followHead
			}
		}
	}
}

// between reports whether every byte fed so far belongs to a whole
// request, head and body: at least one head was found, and nothing of
// the next has come. Called by the reading side only.
func (f *headFollower) between() bool {
	return f.heads > 0 && f.state == followHead && len(f.head) == 0
}

func (f *headFollower) stop() {
	f.state = followStopped
	f.head = nil
}

func (f *headFollower) push(v headVerdict, last bool) {
	f.mu.Lock()
	f.verdicts = append(f.verdicts, followed{v, last})
	f.mu.Unlock()
}

// take returns the verdict on the head of the request net/http is about
// to serve. With none queued (the follower stopped before it), the
// request is refused: nothing vetted it.
func (f *headFollower) take() followed {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.verdicts) == 0 {
		return followed{headVerdict{http.StatusBadRequest, "bluegreen: request not vetted\n"}, true}
	}
	v := f.verdicts[0]
	f.verdicts = f.verdicts[1:]
	if len(f.verdicts) == 0 {
		f.verdicts = nil
	}
	return v
}

type followerKey struct{}

// vetted applies the follower's verdict to the request net/http is about
// to serve on w: it reports whether the request may go on, having
// answered it (and asked net/http to close the connection) when not;
// when the follower stopped after it, the answer closes the connection.
func vetted(f *headFollower, w http.ResponseWriter, r *http.Request) bool {
	v := f.take()
	if v.status == 0 {
		if v.last && r.Header.Get("Upgrade") == "" && r.Method != http.MethodConnect {
			w.Header()["Connection"] = connClose
		}
		return true
	}
	h := w.Header()
	h["Connection"] = connClose
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Content-Length"] = []string{strconv.Itoa(len(v.why))}
	w.WriteHeader(v.status)
	_, _ = io.WriteString(w, v.why)
	return false
}

// blankLineEnd returns the length of the head at the start of buf, through
// its first empty line, or 0 when buf holds none yet, looking from from
// (where the last look left off, less the two bytes a line end may have
// started with). Lines end as net/http reads them: at an LF, with or
// without a CR before it, so the first "\n\n" or "\n\r\n" ends the head.
// (headEnd, which the fast path uses, prefers a "\r\n\r\n" anywhere in
// its buffer and gives the whole buffer for a head with a bare LF: net/http
// decides those there, but the follower must end the head where net/http
// does, or it takes body bytes for the head and loses the framing.)
func blankLineEnd(buf []byte, from int) int {
	for i := from; i < len(buf); i++ {
		if buf[i] != '\n' {
			continue
		}
		if i+1 < len(buf) && buf[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(buf) && buf[i+1] == '\r' && buf[i+2] == '\n' {
			return i + 3
		}
	}
	return 0
}

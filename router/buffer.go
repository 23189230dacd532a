package router

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Request buffering (Options.BufferRequests). A request's body is read
// whole, at the client's pace, before the app sees the request: an app
// with a few synchronous workers (gunicorn's sync workers, the Django
// example) then never waits on a slow upload, as behind nginx, whose
// proxy_request_buffering is on by default. The body stays in memory up
// to Options.BufferMemory and goes on in a temp file (created in
// Options.TempDir and unlinked at once, so a crash leaves nothing), up to
// MaxRequestBody; the request is then forwarded with its length known
// (a chunked upload arrives with a Content-Length). Each wait for body
// bytes is still bounded by BodyTimeout, and the whole body by
// BodyDeadline: a client that sends a byte just before each timeout is
// answered 408 at the deadline. Upgrades stream as before.

// Defaults for request buffering.
const (
	DefaultBufferMemory = 64 << 10
	DefaultBodyDeadline = 5 * time.Minute
)

// bodySpool is a request body read whole: the first part in memory, the
// rest in an unlinked temp file. It is read once, from the start, and
// closed by the handler that made it.
type bodySpool struct {
	mem  []byte
	f    *os.File
	size int64
	r    io.Reader
}

func (s *bodySpool) Read(p []byte) (int, error) { return s.r.Read(p) }

// Close releases the temp file.
func (s *bodySpool) Close() error {
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}

// spoolBuffers are the copy buffers of spoolBody.
var spoolBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// spoolBody reads src to its end into a bodySpool: memory up to mem bytes,
// then a temp file in dir. A read error of src is returned as it is (the
// caller's clientBody has classified it); a temp file that cannot be made
// or written is errSpool.
func spoolBody(src io.Reader, mem int, dir string) (*bodySpool, error) {
	s := &bodySpool{}
	bp := spoolBuffers.Get().(*[]byte)
	defer spoolBuffers.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if werr := s.add(buf[:n], mem, dir); werr != nil {
				s.Close()
				return nil, werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	if s.f == nil {
		s.r = bytes.NewReader(s.mem)
	} else {
		s.r = io.MultiReader(bytes.NewReader(s.mem), io.NewSectionReader(s.f, 0, s.size-int64(len(s.mem))))
	}
	return s, nil
}

// add appends p: to memory while it fits in mem, else to the temp file.
func (s *bodySpool) add(p []byte, mem int, dir string) error {
	s.size += int64(len(p))
	if s.f == nil && len(s.mem)+len(p) <= mem {
		s.mem = append(s.mem, p...)
		return nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(dir, "bluegreen-body-*")
		if err != nil {
			return errors.Join(errSpool, err)
		}
		// Unlinked at once: the open file is all there is, and a crash
		// leaves nothing behind.
		_ = os.Remove(f.Name())
		s.f = f
	}
	if _, err := s.f.Write(p); err != nil {
		return errors.Join(errSpool, err)
	}
	return nil
}

// Response buffering (Options.BufferResponses). An answer with a length
// up to BufferResponseMax is read from the app at the app's speed, not the
// client's: BufferMemory of it in memory, the rest in an unlinked temp
// file, handed to the client as it takes it. The app's worker and its
// upstream connection are free as soon as the app has answered, whatever
// the client's pace (nginx's proxy_buffering). An answer without a length
// (chunked, or until the connection closes), text/event-stream, and one
// whose app says "X-Accel-Buffering: no" stream as they come, as behind
// nginx; the header itself is not passed on.

// DefaultBufferResponseMax is the largest answer buffered by default.
const DefaultBufferResponseMax = 8 << 20

// eventStream reports whether a Content-Type value is text/event-stream.
func eventStream(v []byte) bool {
	const es = "text/event-stream"
	return len(v) >= len(es) && strings.EqualFold(string(v[:len(es)]), es)
}

// noBuffering reports whether an answer's head asks to stream it.
func noBuffering(h http.Header) bool {
	return strings.EqualFold(h.Get("X-Accel-Buffering"), "no") || eventStream([]byte(h.Get("Content-Type")))
}

// buffered reports whether an answer of length bytes (-1: unknown), whose
// head asks to stream when noBuffer, is buffered under rt's options.
func (rt *Router) buffered(length int64, noBuffer bool) bool {
	return rt.opts.BufferResponses && !noBuffer && length > 0 && length <= rt.opts.BufferResponseMax
}

// errSpool is a request body the router could not keep (its temp file):
// answered 502, as nginx answers 500, since the client did nothing wrong.
var errSpool = errors.New("bluegreen: cannot buffer the request body")

// bufferRequest reads req's body (behind cb, which times and classifies
// each read) into a spool and returns the request to forward: a copy
// with the spooled body, its length and no Expect. On failure it returns
// the error for call.fail. The caller closes the spool.
func (rt *Router) bufferRequest(req *http.Request, c *call, cb *clientBody) (*http.Request, *bodySpool, error) {
	cut := time.AfterFunc(rt.opts.BodyDeadline, cb.cut)
	sp, err := spoolBody(req.Body, rt.opts.BufferMemory, rt.opts.TempDir)
	cut.Stop()
	if err != nil {
		return nil, nil, err
	}
	if err := c.Err(); err != nil {
		sp.Close()
		return nil, nil, err // a drain's deadline or the client gone, meanwhile
	}
	r2 := new(http.Request)
	*r2 = *req
	r2.Body, r2.ContentLength, r2.TransferEncoding = sp, sp.size, nil
	if sp.size == 0 {
		r2.Body = http.NoBody
	}
	if _, ok := req.Header["Expect"]; ok {
		// net/http sent its 100 Continue when the body was read; the app
		// must not wait for one.
		r2.Header = req.Header.Clone()
		delete(r2.Header, "Expect")
	}
	return r2, sp, nil
}

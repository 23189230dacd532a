package router

// This file holds obuf, the event loop's output buffer, with the temp file
// a buffered answer spills to (Options.BufferResponses). It is portable:
// nothing in it needs Linux, so it builds and is tested on every OS.

import "os"

// obuf is an output buffer with a read offset.
type obuf struct {
	b   []byte
	off int
	// spill holds what comes after b once a buffered answer outgrew its
	// memory (spill): bytes fr to fw of an unlinked temp file. While it is
	// open, b is never empty but when everything went out.
	spill  *os.File
	fr, fw int64
	// broken: the spill file could not be read back; the answer is cut
	// and its connection must close (flushClient).
	broken bool
}

func (o *obuf) pending() []byte { return o.b[o.off:] }
func (o *obuf) empty() bool     { return o.off == len(o.b) && o.spill == nil }
func (o *obuf) add(p []byte)    { o.b = append(o.b, p...) }

// addBuffered is add for a buffered answer (Options.BufferResponses): past
// mem bytes in memory, the rest goes to a temp file in dir, read back as
// the client takes what is in memory.
func (o *obuf) addBuffered(p []byte, mem int, dir string) error {
	if o.spill == nil && len(o.b)-o.off+len(p) <= mem {
		o.add(p)
		return nil
	}
	if o.spill == nil {
		if len(o.b) == o.off { // nothing waits in memory: keep the invariant
			o.add(p)
			return nil
		}
		f, err := os.CreateTemp(dir, "bluegreen-answer-*")
		if err != nil {
			return err
		}
		_ = os.Remove(f.Name()) // unlinked: a crash leaves nothing
		o.spill, o.fr, o.fw = f, 0, 0
	}
	n, err := o.spill.WriteAt(p, o.fw)
	o.fw += int64(n)
	return err
}

func (o *obuf) consume(n int) {
	o.off += n
	if o.off == len(o.b) {
		if cap(o.b) > 64<<10 {
			o.b = nil // a large answer went out: do not keep its buffer
		} else {
			o.b = o.b[:0]
		}
		o.off = 0
		if o.spill != nil {
			o.refill()
		}
	}
}

// refill moves the next part of the spill file into memory, and closes the
// file once it is all read (or cannot be: the answer is then cut short,
// and the client sees the connection close early).
func (o *obuf) refill() {
	k := min(o.fw-o.fr, spillChunk)
	if cap(o.b) < int(k) {
		o.b = make([]byte, 0, spillChunk)
	}
	n, err := o.spill.ReadAt(o.b[:k], o.fr)
	o.b = o.b[:n]
	o.fr += int64(n)
	if err != nil && n < int(k) {
		o.broken = true
	}
	if o.broken || o.fr == o.fw {
		o.drop()
	}
}

// drop closes the spill file.
func (o *obuf) drop() {
	if o.spill != nil {
		o.spill.Close()
		o.spill, o.fr, o.fw = nil, 0, 0
	}
}

// spillChunk is how much of a spilled answer is read back at a time.
const spillChunk = 64 << 10

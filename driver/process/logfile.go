package process

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// rotatingFile is an io.Writer to a file that is rotated by size: when a
// write would take it past max bytes, path becomes path.1, path.1 becomes
// path.2 and so on up to path.<keep>, which is dropped. No file grows past
// max. Lines are kept whole where the writes allow it: a write that does not
// fit is cut after its last newline that fits and the rest goes to a new
// file; only a line longer than max, or one begun by an earlier write that
// does not fit, is split at the limit. It is not safe for concurrent use.
type rotatingFile struct {
	path string
	max  int64
	keep int
	f    *os.File
	size int64
	// midLine is true when the last byte written was not a newline.
	midLine bool
}

func openRotating(path string, max int64, keep int) (*rotatingFile, error) {
	r := &rotatingFile{path: path, max: max, keep: keep}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening app log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening app log: %w", err)
	}
	r.f, r.size, r.midLine = f, st.Size(), false
	return nil
}

// Write writes all of p, rotating as often as needed.
func (r *rotatingFile) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		room := r.max - r.size
		cut := len(p)
		if int64(cut) > room {
			cut = 0
			if room > 0 {
				cut = bytes.LastIndexByte(p[:room], '\n') + 1
			}
			if cut == 0 && (r.size == 0 || r.midLine) {
				cut = int(room) // the line cannot be kept whole
			}
		}
		if cut > 0 {
			n, err := r.f.Write(p[:cut])
			r.size += int64(n)
			written += n
			if n > 0 {
				r.midLine = p[n-1] != '\n'
			}
			if err != nil {
				return written, fmt.Errorf("writing app log: %w", err)
			}
			p = p[cut:]
		}
		if len(p) > 0 {
			if err := r.rotate(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// rotate shifts the files by one and starts an empty path.
func (r *rotatingFile) rotate() error {
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("rotating app log: %w", err)
	}
	for i := r.keep; i >= 1; i-- {
		from := r.path
		if i > 1 {
			from = r.path + "." + strconv.Itoa(i-1)
		}
		if err := os.Rename(from, r.path+"."+strconv.Itoa(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotating app log: %w", err)
		}
	}
	return r.open()
}

func (r *rotatingFile) Close() error { return r.f.Close() }

// tailLines returns the last n lines of the log at path, continuing into
// path.1, path.2 ... (as far as they exist) when path holds fewer. Lines are
// returned oldest first, without their newline. A missing path counts as
// empty: it is briefly missing while the log rotates.
func tailLines(path string, n int) ([]string, error) {
	var lines []string // newest first
	for i := 0; len(lines) < n; i++ {
		name := path
		if i > 0 {
			name = path + "." + strconv.Itoa(i)
			if _, err := os.Stat(name); err != nil {
				break
			}
		}
		got, err := tailFile(name, n-len(lines))
		if err != nil {
			return nil, err
		}
		lines = append(lines, got...)
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return lines, nil
}

// tailChunk is how much tailFile reads at a time, from the end backwards.
const tailChunk = 64 << 10

// tailFile returns up to the last n lines of one file, newest first. It reads
// backwards from the end, so a large file costs only what the lines take.
func tailFile(name string, n int) ([]string, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading app log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading app log: %w", err)
	}
	var (
		lines []string
		buf   []byte // the part read but not yet cut into lines
		off   = st.Size()
	)
	for first := true; len(lines) < n; first = false {
		if off > 0 {
			size := min(int64(tailChunk), off)
			off -= size
			chunk := make([]byte, size, int(size)+len(buf))
			if _, err := f.ReadAt(chunk, off); err != nil && err != io.EOF {
				return nil, fmt.Errorf("reading app log: %w", err)
			}
			buf = append(chunk, buf...)
		}
		if first {
			buf = bytes.TrimSuffix(buf, []byte{'\n'}) // the last line's end
		}
		for len(lines) < n {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 {
				break
			}
			lines = append(lines, string(buf[i+1:]))
			buf = buf[:i]
		}
		if off == 0 {
			// What is left is the file's first line.
			if len(lines) < n && st.Size() > 0 {
				lines = append(lines, string(buf))
			}
			break
		}
	}
	return lines, nil
}

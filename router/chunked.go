package router

// This file is portable, pure and fuzzed (FuzzChunkScanner): the event
// loop follows chunked bodies with it, and so does the head check of the
// connections net/http serves (headFollower).

// chunkScanner follows a chunked body (RFC 9112 section 7.1) passed
// through as it is, to find where it ends.
type chunkScanner struct {
	state  int
	size   int64 // bytes left of the current chunk's data
	digits int
	line   int // length of the current trailer line
}

const (
	chunkSize    = iota // hex digits
	chunkExt            // extension, up to CR
	chunkSizeLF         // LF after the size line
	chunkData           // data bytes
	chunkDataCR         // CR after the data
	chunkDataLF         // LF after the data
	chunkTrailer        // trailer lines, up to an empty one
	chunkTrailerLF
)

var errBadChunk = errorString("malformed chunked encoding")

// scan consumes p; it returns how many bytes belong to the body, whether
// the body ended, and an error for malformed framing.
func (s *chunkScanner) scan(p []byte) (int, bool, error) {
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch s.state {
		case chunkSize:
			var d int64
			switch {
			case '0' <= b && b <= '9':
				d = int64(b - '0')
			case 'a' <= b && b <= 'f':
				d = int64(b-'a') + 10
			case 'A' <= b && b <= 'F':
				d = int64(b-'A') + 10
			case b == ';' || b == ' ' || b == '\t':
				if s.digits == 0 {
					return 0, false, errBadChunk
				}
				s.state = chunkExt
				continue
			case b == '\r':
				if s.digits == 0 {
					return 0, false, errBadChunk
				}
				s.state = chunkSizeLF
				continue
			default:
				return 0, false, errBadChunk
			}
			if s.digits >= 15 {
				return 0, false, errBadChunk
			}
			s.digits++
			s.size = s.size<<4 | d
		case chunkExt:
			if b == '\r' {
				s.state = chunkSizeLF
			} else if b == '\n' {
				return 0, false, errBadChunk
			}
		case chunkSizeLF:
			if b != '\n' {
				return 0, false, errBadChunk
			}
			s.digits = 0
			if s.size == 0 {
				s.state, s.line = chunkTrailer, 0
			} else {
				s.state = chunkData
			}
		case chunkData:
			n := int64(len(p) - i)
			if n > s.size {
				n = s.size
			}
			s.size -= n
			i += int(n) - 1
			if s.size == 0 {
				s.state = chunkDataCR
			}
		case chunkDataCR:
			if b != '\r' {
				return 0, false, errBadChunk
			}
			s.state = chunkDataLF
		case chunkDataLF:
			if b != '\n' {
				return 0, false, errBadChunk
			}
			s.state = chunkSize
		case chunkTrailer:
			if b == '\r' {
				s.state = chunkTrailerLF
			} else if b == '\n' {
				return 0, false, errBadChunk
			} else {
				s.line++
			}
		case chunkTrailerLF:
			if b != '\n' {
				return 0, false, errBadChunk
			}
			if s.line == 0 {
				return i + 1, true, nil
			}
			s.state, s.line = chunkTrailer, 0
		}
	}
	return len(p), false, nil
}

package router

import (
	"fmt"
	"testing"
)

// TestFollowerEndsABareLFHeadWhereNetHTTPDoes: a head whose lines end in a
// bare LF, followed by a body holding "\r\n\r\n" and a second request. The
// follower took everything up to the first "\r\n\r\n" in its buffer for
// one head (headEnd's rule), body and second request included, so it
// queued one verdict where net/http parses two requests (found by
// FuzzHeadFollower). Fed in one piece or byte by byte, it now queues one
// verdict per request.
func TestFollowerEndsABareLFHeadWhereNetHTTPDoes(t *testing.T) {
	stream := "POST /a HTTP/1.1\nHost: x\nContent-Length: 6\n\nab\r\n\r\n" +
		"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, piece := range []int{len(stream), 1} {
		t.Run(fmt.Sprintf("pieces of %d", piece), func(t *testing.T) {
			f := newHeadFollower(headLimits{}.withDefaults())
			for i := 0; i < len(stream); i += piece {
				f.feed([]byte(stream[i:min(i+piece, len(stream))]))
			}
			if len(f.verdicts) != 2 || f.verdicts[0].status != 0 || f.verdicts[1].status != 0 {
				t.Fatalf("verdicts %+v, want two requests let through", f.verdicts)
			}
			if f.state != followHead || len(f.head) != 0 {
				t.Fatalf("state %d with %q pending, want waiting for the next head", f.state, f.head)
			}
		})
	}
}

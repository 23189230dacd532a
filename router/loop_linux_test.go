package router

import (
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/testenv"
)

// TestLoopParkedExchangesHoldNothing: an exchange waiting for reuse keeps
// nothing of its last request alive (its connection's buffers, its
// generation, its upstreams).
func TestLoopParkedExchangesHoldNothing(t *testing.T) {
	tr, c := requestsInARow(t, 10)
	c.CloseIdleConnections()
	// The client's close reaches the loop as an event of its own: until the
	// loop has seen it, the last exchange is still its connection's, not
	// parked. So look again until one is parked (a check at a time that
	// happened to come first failed about once in a few hundred runs).
	testenv.WaitFor(t, 5*time.Second, "an exchange parked for reuse", func() bool {
		parked := 0
		tr.eachLoop(func(l *evloop) {
			// The posted check runs after the top of a round, where the
			// exchanges of the round before are parked.
			res := make(chan string, 1)
			if !l.post(func() {
				for _, x := range l.free {
					if x.cl != nil || x.up != nil || x.head != nil || x.c.gen != nil || x.c.pool != nil || x.c.up != nil {
						res <- "a parked exchange still holds its last request"
						return
					}
				}
				parked += len(l.free)
				res <- ""
			}) {
				t.Fatal("the loop refused a post")
			}
			if msg := <-res; msg != "" {
				t.Fatal(msg)
			}
		})
		return parked > 0
	})
}

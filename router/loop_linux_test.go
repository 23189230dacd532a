package router

import "testing"

// TestLoopParkedExchangesHoldNothing: an exchange waiting for reuse keeps
// nothing of its last request alive (its connection's buffers, its
// generation, its upstreams).
func TestLoopParkedExchangesHoldNothing(t *testing.T) {
	tr, c := requestsInARow(t, 10)
	c.CloseIdleConnections()
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
	if parked == 0 {
		t.Fatal("no exchange was parked for reuse")
	}
}

package testenv

import (
	"testing"
	"time"
)

// WaitFor calls cond until it returns true, and fails the test with
// t.Fatalf ("timed out after <within> waiting for <what>") when within has
// passed first. cond is called once straight away, then again every
// millisecond at first and every 10 ms at most, so that a fast condition is
// seen fast and a slow one costs little. It is a condition wait, never a
// synchronisation sleep: cond must read what it checks safely (atomics, a
// lock, a channel); it runs on the test's goroutine. Call it only from the
// goroutine running the test (t.Fatalf's rule).
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(pause) // the polling interval of a condition wait
		pause = min(2*pause, 10*time.Millisecond)
	}
}

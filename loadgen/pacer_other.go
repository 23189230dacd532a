//go:build !linux

package loadgen

import "time"

// pacer is a precise sleeper, Linux only; here newPacer returns nil and
// Rate runs wait with a Go timer.
type pacer struct{}

func newPacer() *pacer                    { return nil }
func (p *pacer) sleep(time.Duration) bool { return false }
func (p *pacer) interrupt()               {}
func (p *pacer) close()                   {}

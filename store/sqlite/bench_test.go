package sqlite

import (
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// BenchmarkCommitVisible measures a switch's commit: the new state and one
// event, visible and safe from a kill, without the flush to disk.
func BenchmarkCommitVisible(b *testing.B) {
	s, err := Open(b.Context(), b.TempDir()+"/state.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	st := bluegreen.State{Live: bluegreen.Blue, Colors: map[bluegreen.Color]bluegreen.ColorState{
		bluegreen.Blue:  {Upstreams: []string{"127.0.0.1:9001"}},
		bluegreen.Green: {Upstreams: []string{"127.0.0.1:9002"}},
	}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		next := st
		next.Previous, next.Live, next.Since = st.Live, st.Previous, time.Now()
		if next.Live == "" {
			next.Live = bluegreen.Green
		}
		ev := bluegreen.Event{Actor: "bench", Action: bluegreen.ActionSwitch, Color: next.Live, Outcome: bluegreen.OutcomeOK,
			Message: "switched traffic", Details: map[string]any{"from": st.Live, "to": next.Live}}
		committed, sync, err := s.CommitVisible(b.Context(), next, ev)
		if err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			if err := sync(); err != nil {
				b.Fatal(err)
			}
		}
		st = committed
	}
}

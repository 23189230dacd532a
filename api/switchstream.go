package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// NDJSON is the media type of the API's streamed answers: one JSON value
// per line.
const NDJSON = "application/x-ndjson"

// switchLine is one line of the NDJSON answer of POST /v1/switch and
// /v1/rollback, for a client that accepts NDJSON: progress lines as the
// switch goes (live, then draining), then one last line with the result
// or the error.
type switchLine struct {
	Progress *bluegreen.SwitchProgress `json:"progress,omitempty"`
	Result   *bluegreen.SwitchResult   `json:"result,omitempty"`
	Error    *errorDetail              `json:"error,omitempty"`
}

// switchProgressQueue bounds the progress lines waiting for a slow client:
// beyond it they are dropped (the last line always comes).
const switchProgressQueue = 64

// streamSwitch runs a switch or rollback (do). A client that accepts NDJSON
// gets its progress as it happens, then the result; any other gets the
// result alone once the drain ends, as before streaming existed. A
// refusal before anything changed is a plain JSON error with its status
// either way. The switch never waits for the client: lines are written by
// another goroutine, and dropped if the client reads too slowly.
func (s *server) streamSwitch(w http.ResponseWriter, r *http.Request, req bluegreen.SwitchRequest,
	do func(context.Context, bluegreen.SwitchRequest) (bluegreen.SwitchResult, error)) error {
	if !strings.Contains(r.Header.Get("Accept"), NDJSON) {
		res, err := do(r.Context(), req)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	lines := make(chan bluegreen.SwitchProgress, switchProgressQueue)
	started := make(chan struct{}) // closed once the status line is written
	written := make(chan struct{})
	go func() {
		defer close(written)
		first := true
		for p := range lines {
			if first {
				w.Header().Set("Content-Type", NDJSON)
				w.WriteHeader(http.StatusOK)
				close(started)
				first = false
			}
			_ = enc.Encode(switchLine{Progress: &p})
			_ = rc.Flush()
		}
		if first {
			close(started)
		}
	}()
	streaming := false
	req.Progress = func(p bluegreen.SwitchProgress) {
		streaming = true // Progress is called from one goroutine at a time, and never after do returns
		select {
		case lines <- p:
		default: // the client is slow: it gets the result all the same
		}
	}
	res, err := do(r.Context(), req)
	close(lines)
	<-written
	<-started
	if !streaming {
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", NDJSON)
		w.WriteHeader(http.StatusOK)
	}
	last := switchLine{Result: &res}
	if err != nil {
		last.Error = &errorDetail{Code: bluegreen.ErrorCode(err), Message: bluegreen.ErrorMessage(err)}
	}
	_ = enc.Encode(last)
	return nil
}

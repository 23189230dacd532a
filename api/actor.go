package api

import (
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bluegreen/bluegreen"
)

// MaxActorBytes bounds the actor recorded for an API call: a longer
// X-Bluegreen-Actor is cut (at a character boundary) and ActorTruncated
// appended.
const MaxActorBytes = 128

// ActorTruncated marks an actor that was cut to MaxActorBytes.
const ActorTruncated = "…[truncated]"

// actorOf is who the history records for r: its X-Bluegreen-Actor,
// cleaned (CleanActor), else "api@" and the remote address.
func actorOf(r *http.Request) string {
	if a := CleanActor(r.Header.Get(ActorHeader)); a != "" {
		return a
	}
	return "api@" + r.RemoteAddr
}

// CleanActor returns the actor the history records for a call whose
// X-Bluegreen-Actor is s (a client finds its own events by it). It makes a
// caller's claimed identity safe to record and to print on a terminal: control characters (tabs and C1 included) and format
// characters (bidi overrides, zero-width characters) are dropped, invalid
// UTF-8 is dropped, spaces around are trimmed, and what is left is cut to
// MaxActorBytes with ActorTruncated appended.
func CleanActor(s string) string {
	var b strings.Builder
	truncated := false
	for _, r := range strings.TrimSpace(s) {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > MaxActorBytes {
			truncated = true
			break
		}
		b.WriteRune(r)
	}
	out := strings.TrimSpace(b.String())
	if truncated {
		out += ActorTruncated
	}
	return out
}

// MaxReasonBytes bounds the free-text reason a caller gives an operation
// (--reason), which the history records, with every refusal too.
const MaxReasonBytes = 1000

// checkReason refuses (EINVALID) a reason longer than MaxReasonBytes.
func checkReason(reason string) error {
	if len(reason) > MaxReasonBytes {
		return bluegreen.Errorf(bluegreen.EINVALID, "reason: %d bytes long, at most %d", len(reason), MaxReasonBytes)
	}
	return nil
}

// maxRecordedPath bounds the request path an access refusal records.
const maxRecordedPath = 256

// recordedPath is r's path as an access refusal records it: cut to
// maxRecordedPath bytes with ActorTruncated's marker.
func recordedPath(r *http.Request) string {
	p := r.URL.Path
	if len(p) <= maxRecordedPath {
		return p
	}
	return strings.ToValidUTF8(p[:maxRecordedPath], "") + ActorTruncated
}

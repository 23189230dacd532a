package notify

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// Kinds of events, as named in Webhook.On and in the "kind" of a Payload.
const (
	KindDeploy   = "deploy"   // a release was deployed into a color
	KindVerify   = "verify"   // a color's checks passed
	KindSwitch   = "switch"   // traffic moved to another color
	KindRollback = "rollback" // traffic moved back, by a person or automatically
	KindFailure  = "failure"  // any of the above failed or was refused, or the post-switch watch breached
)

var kinds = []string{KindDeploy, KindVerify, KindSwitch, KindRollback, KindFailure}

// Kind returns the kind under which ev is sent, or "" when it is not sent:
//
//   - ActionDeploy, ActionVerify, ActionSwitch, ActionRollback ending OK:
//     KindDeploy, KindVerify, KindSwitch, KindRollback. An automatic rollback
//     (Details["automatic"] == true) is a KindRollback whose text says so.
//   - the same actions failed or refused: KindFailure (a webhook whose On
//     names the action gets them too).
//   - ActionWatch failed or refused (the post-switch watch breached):
//     KindFailure. The automatic rollback that follows is its own event.
//   - anything else (health, lock, drain, process, serve, notify, a watch
//     that started or passed...): "". ActionNotify events are never sent, so
//     a failing webhook cannot cause a loop.
func Kind(ev bluegreen.Event) string {
	failed := ev.Outcome == bluegreen.OutcomeFailed || ev.Outcome == bluegreen.OutcomeRefused
	switch ev.Action {
	case bluegreen.ActionDeploy, bluegreen.ActionVerify, bluegreen.ActionSwitch, bluegreen.ActionRollback:
		if failed {
			return KindFailure
		}
		return string(ev.Action)
	case bluegreen.ActionWatch:
		if failed {
			return KindFailure
		}
	}
	return ""
}

// Payload is the body POSTed to a FormatJSON webhook, one per event. Fields
// may be added in later versions; existing ones keep their meaning.
type Payload struct {
	// Kind is what Kind(Event) returns.
	Kind string `json:"kind"`
	// Text is a one-line human summary, e.g. "prod-1: switch to green
	// succeeded: switched traffic from blue to green (by alice)".
	Text string `json:"text"`
	// Source is Options.Source; omitted when not set.
	Source string `json:"source,omitempty"`
	// Event is the history event, as the API shows it.
	Event bluegreen.Event `json:"event"`
}

// slackBody is the body POSTed to a FormatSlack webhook.
type slackBody struct {
	Text string `json:"text"`
}

// message is one event ready to send: immutable once built, shared by the
// queues of all the webhooks that want it.
type message struct {
	id       int64
	action   string
	color    bluegreen.Color
	revision int64
	kind     string
	json     []byte // Payload
	slack    []byte // slackBody
}

// newMessage builds both bodies now, so that the caller may change
// ev.Details as soon as Notify returns.
func newMessage(ev bluegreen.Event, kind, source string) *message {
	text := summary(ev, source)
	p := Payload{Kind: kind, Text: text, Source: source, Event: ev}
	js, err := json.Marshal(p)
	if err != nil { // a Details value JSON cannot encode
		p.Event.Details = map[string]any{"unencodable_details": err.Error()}
		js, _ = json.Marshal(p)
	}
	sl, _ := json.Marshal(slackBody{Text: slackEmoji(ev, kind) + " " + slackEscape(text)})
	return &message{id: ev.ID, action: string(ev.Action), color: ev.Color, revision: ev.Revision, kind: kind, json: js, slack: sl}
}

// body returns what to POST to a webhook of the given format.
func (m *message) body(format string) []byte {
	if format == FormatSlack {
		return m.slack
	}
	return m.json
}

// maxMessage caps the event message quoted in a text, in runes.
const maxMessage = 300

// summary is the one-line text of ev:
// "[source: ]<subject> <result>[: <message>][ (by <actor>)]".
func summary(ev bluegreen.Event, source string) string {
	var b strings.Builder
	if s := oneLine(source, 80); s != "" {
		b.WriteString(s + ": ")
	}
	b.WriteString(subject(ev) + " " + result(ev))
	if msg := oneLine(ev.Message, maxMessage); msg != "" {
		b.WriteString(": " + msg)
	}
	if a := oneLine(ev.Actor, 80); a != "" {
		b.WriteString(" (by " + a + ")")
	}
	return b.String()
}

// subject says what happened to which color, e.g. "switch to green" or
// "automatic rollback to blue".
func subject(ev bluegreen.Event) string {
	var s, prep string
	switch ev.Action {
	case bluegreen.ActionDeploy:
		s, prep = "deploy", "to"
	case bluegreen.ActionVerify:
		s, prep = "verification", "of"
	case bluegreen.ActionSwitch:
		s, prep = "switch", "to"
	case bluegreen.ActionRollback:
		s, prep = "rollback", "to"
		if automatic(ev) {
			s = "automatic rollback"
		}
	case bluegreen.ActionWatch:
		s, prep = "post-switch watch", "of"
	default:
		s, prep = string(ev.Action), "of"
	}
	if ev.Color != "" {
		s += " " + prep + " " + oneLine(string(ev.Color), 20)
	}
	return s
}

// result is the outcome in words.
func result(ev bluegreen.Event) string {
	switch ev.Outcome {
	case bluegreen.OutcomeOK:
		if ev.Action == bluegreen.ActionVerify {
			return "passed"
		}
		return "succeeded"
	case bluegreen.OutcomeFailed:
		return "failed"
	case bluegreen.OutcomeRefused:
		return "refused"
	}
	return oneLine(string(ev.Outcome), 20)
}

// automatic reports whether ev is an automatic rollback.
func automatic(ev bluegreen.Event) bool {
	b, _ := ev.Details["automatic"].(bool)
	return b
}

// slackEmoji marks the text: red for failures, a warning for an automatic
// rollback, green otherwise.
func slackEmoji(ev bluegreen.Event, kind string) string {
	switch {
	case kind == KindFailure:
		return ":red_circle:"
	case ev.Action == bluegreen.ActionRollback && automatic(ev):
		return ":warning:"
	}
	return ":large_green_circle:"
}

// slackEscape escapes the three characters Slack treats as markup, so that
// text from an event (a reason, a branch name) cannot ping a channel with
// "<!here>" or forge a link.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// oneLine collapses all whitespace runs of s (newlines included) into single
// spaces and cuts it to max runes, marking a cut with "...".
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "..."
	}
	return s
}

// plural returns "1 attempt" or "n attempts".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

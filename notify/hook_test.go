package notify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// TestHookRunsForFailuresAndAutomaticRollbacks: the command runs, in order,
// for what is worth a notice only, with the event in its environment; a
// failing command is recorded.
func TestHookRunsForFailuresAndAutomaticRollbacks(t *testing.T) {
	dir := t.TempDir()
	var (
		mu       sync.Mutex
		recorded []bluegreen.Event
	)
	h := NewHook(HookConfig{Command: `echo "$BLUEGREEN_EVENT $BLUEGREEN_COLOR $BLUEGREEN_MESSAGE" >> notices; test "$BLUEGREEN_COLOR" != green`,
		Dir: dir, Env: []string{"PATH=" + os.Getenv("PATH")},
		Record: func(ev bluegreen.Event) { mu.Lock(); recorded = append(recorded, ev); mu.Unlock() }})
	h.Notify(bluegreen.Event{Action: bluegreen.ActionDeploy, Outcome: bluegreen.OutcomeOK, Color: bluegreen.Blue, Message: "fine"})
	h.Notify(bluegreen.Event{Action: bluegreen.ActionDeploy, Outcome: bluegreen.OutcomeFailed, Color: bluegreen.Blue, Message: "broke"})
	h.Notify(bluegreen.Event{Action: bluegreen.ActionRollback, Outcome: bluegreen.OutcomeOK, Color: bluegreen.Green,
		Message: "rolled back", Details: map[string]any{"automatic": true}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.Close(ctx)
	h.Close(ctx)                                                                                // a second Close does nothing
	h.Notify(bluegreen.Event{Action: bluegreen.ActionDeploy, Outcome: bluegreen.OutcomeFailed}) // ignored after Close
	b, _ := os.ReadFile(filepath.Join(dir, "notices"))
	if want := "deploy_failed blue broke\nautomatic_rollback green rolled back\n"; string(b) != want {
		t.Errorf("the hook ran for %q, want %q", b, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(recorded) != 1 || recorded[0].Action != bluegreen.ActionNotify || !strings.Contains(recorded[0].Message, "automatic_rollback") {
		t.Errorf("recorded %+v; want the failed run for automatic_rollback", recorded)
	}
}

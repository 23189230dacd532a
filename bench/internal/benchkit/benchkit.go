// Package benchkit holds the small helpers the benchmark programs share.
package benchkit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Pause waits for d, or until ctx ends (then it returns ctx's error).
func Pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Counts prints counts by key, sorted by key ("blue 12, green 3"), with
// the empty key shown as "none".
func Counts(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := k
		if name == "" {
			name = "none"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}

//go:build !linux

package sched

import (
	"context"
	"errors"
	"time"
)

// Raise does nothing on this system: ctx comes back unmarked and done
// does nothing.
func Raise(ctx context.Context) (context.Context, func()) { return ctx, func() {} }

// Ability reports that Raise does nothing on this system.
func Ability() (Level, error) {
	return Level{}, errors.New("switches run at the normal priority: raising a thread's priority is only done on Linux")
}

func waitReadable(context.Context, uintptr, time.Time) {}

// Current reports the normal level: Raise changes nothing on this system.
func Current() (Level, error) { return Level{}, nil }

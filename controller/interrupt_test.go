package controller_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
)

// stubSource resolves every ref to one commit and checks out an empty tree.
type stubSource struct{}

func (stubSource) Fetch(ctx context.Context, ref string) (controller.Commit, error) {
	return controller.Commit{SHA: "0123456789abcdef0123456789abcdef01234567", Ref: ref, Subject: "s", Author: "a"}, nil
}

func (stubSource) Checkout(ctx context.Context, sha, dest string) error {
	return os.MkdirAll(dest, 0o755)
}

func (stubSource) Archive(context.Context, string, io.Writer) error { return nil }

// nopDriver runs no app.
type nopDriver struct{}

func (nopDriver) Start(context.Context, bluegreen.Color, string, string, []string) error { return nil }
func (nopDriver) Stop(context.Context, bluegreen.Color) error                            { return nil }

// TestReclaimNamesTheInterruptedStep: serve dies (here: a new controller on
// the same store, as after kill -9 and a restart) while build step 2 of 3
// runs; the interrupted deployment and its event name the step and its
// command.
func TestReclaimNamesTheInterruptedStep(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	dir := t.TempDir()
	e := newEnvWith(t, nil, func(o *controller.Options) {
		o.Deploy = &controller.DeployConfig{
			Source: stubSource{}, Driver: nopDriver{}, StartTimeout: time.Second,
			ValidateRef: func(string) error { return nil },
			ReleaseDir: func(c bluegreen.Color, _ time.Time, sha string) (string, error) {
				return filepath.Join(dir, string(c), sha), nil
			},
			Build: []string{"make", "python3 manage.py migrate", "make check"},
			Run: func(ctx context.Context, dir, command string, env []string, onLine func(string)) (int, []string, error) {
				if command == "python3 manage.py migrate" {
					close(entered)
					<-release
					return -1, nil, errors.New("stopped")
				}
				return 0, nil, nil
			},
		}
	})
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := e.ctl.Deploy(ctx, bluegreen.DeployRequest{Color: bluegreen.Green, Ref: "green", Actor: "alice"}, nil)
		done <- err
	}()
	defer func() { close(release); <-done }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("build step 2 did not start within 10s")
	}

	st, err := e.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctl2 := controller.New(controller.Options{Store: e.store, Router: routerAdapter{e.rt}, Now: time.Now}, st)
	if err := ctl2.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	d := ctl2.State().Colors[bluegreen.Green].Deployment
	want := "bluegreen serve stopped during build 2/3: python3 manage.py migrate (the command was killed with it)"
	if d == nil || d.Status != bluegreen.DeploymentInterrupted || d.Error != want {
		t.Fatalf("deployment after reclaim: %+v\nwant interrupted with error %q", d, want)
	}
	evs := e.history(t, bluegreen.ActionDeploy)
	wantMsg := "deployment " + d.ID + " of green into green was interrupted at build 2/3: python3 manage.py migrate"
	if len(evs) == 0 || evs[0].Message != wantMsg {
		t.Fatalf("latest deploy event %+v\nwant message %q", evs, wantMsg)
	}
}

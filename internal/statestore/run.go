package statestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/config"
)

// CopyRequest is one `bluegreen state copy`.
type CopyRequest struct {
	// From and To are state directories or etcd URLs.
	From, To string
	// Like supplies TLS and credentials to an etcd URL that names the
	// config's cluster and prefix (see ParseLocation); may be nil.
	Like *config.Etcd
	// Force copies onto a target that holds a state: a directory's
	// state.db is first set aside (renamed, never deleted). An etcd
	// target is never cleared by bluegreen; Force there is refused.
	Force bool
	// Progress, when not nil, is told how far the copy is.
	Progress Progress
}

// Run does a CopyRequest: it opens both stores, copies (see Copy) and
// closes them. Bad locations, a directory without state.db or an empty
// source, the same store twice and Force on a non-empty etcd target fail
// with EINVALID; a non-empty target without Force with an
// error wrapping ErrNotEmpty that says what it holds.
func Run(ctx context.Context, req CopyRequest) (Report, error) {
	var r Report
	if req.From == "" || req.To == "" {
		return r, bluegreen.Errorf(bluegreen.EINVALID, "state copy needs --from and --to (a state directory or etcd://host:port/prefix)")
	}
	if req.Progress != nil {
		tell := req.Progress
		req.Progress = func(what string, done, total int) { // only for long copies
			if total >= 1000 {
				tell(what, done, total)
			}
		}
	}
	from, err := ParseLocation(req.From, req.Like)
	if err != nil {
		return r, bluegreen.Errorf(bluegreen.EINVALID, "--from: %v", err)
	}
	to, err := ParseLocation(req.To, req.Like)
	if err != nil {
		return r, bluegreen.Errorf(bluegreen.EINVALID, "--to: %v", err)
	}
	if from.String() == to.String() {
		return r, bluegreen.Errorf(bluegreen.EINVALID, "--from and --to are the same store (%s)", from)
	}
	if from.Etcd == nil {
		if _, err := os.Stat(filepath.Join(from.Dir, StateFileName)); err != nil {
			return r, bluegreen.Errorf(bluegreen.EINVALID, "--from %s: no state there (%v)", from, err)
		}
	}
	src, err := Open(ctx, from)
	if err != nil {
		return r, fmt.Errorf("opening the source: %w", err)
	}
	defer src.Close()
	if have, err := Inspect(ctx, src); err == nil && have.Empty() {
		return r, bluegreen.Errorf(bluegreen.EINVALID, "--from %s holds no state, history or tokens: nothing to copy (is the prefix right?)", from)
	}
	dst, err := Open(ctx, to)
	if err != nil {
		return r, fmt.Errorf("opening the target: %w", err)
	}
	var aside string
	if have, err := Inspect(ctx, dst); err == nil && !have.Empty() && req.Force {
		dst.Close()
		if to.Etcd != nil {
			return r, bluegreen.Errorf(bluegreen.EINVALID, "the target %s holds %s; bluegreen does not clear an etcd prefix: "+
				"check that it is the one you mean, then run: etcdctl del --prefix %s", to, have, to.Etcd.Prefix)
		}
		if aside, err = SetAside(to.Dir, time.Now()); err != nil {
			return r, err
		}
		if dst, err = Open(ctx, to); err != nil {
			return r, fmt.Errorf("opening the target: %w", err)
		}
	}
	defer dst.Close()
	r, err = Copy(ctx, src, dst, req.Progress)
	r.From, r.To, r.SetAside = from.String(), to.String(), aside
	if errors.Is(err, ErrNotEmpty) {
		err = fmt.Errorf("%s: %w (--force sets a directory's state.db aside first)", to, err)
	}
	return r, err
}

// String says what was copied, in a line or two for people.
func (r Report) String() string {
	live := string(r.Live)
	if live == "" {
		live = "none"
	}
	s := fmt.Sprintf("copied %s to %s: revision %d (live %s), %d events, %d tokens", r.From, r.To, r.Revision, live, r.Events, r.Tokens)
	if r.SetAside != "" {
		s += "\nthe target's old state is in " + r.SetAside
	}
	return s
}

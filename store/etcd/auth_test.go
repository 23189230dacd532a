package etcd

import (
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/etcdtest"
	"github.com/bluegreen/bluegreen/internal/storetest"
)

// TestAuth turns etcd's authentication on with a user that may use only
// its own prefix: the store works with that user's password, and Open fails
// with the store named for a wrong password, none, or another prefix.
func TestAuth(t *testing.T) {
	eps := etcdtest.Endpoints(etcdtest.Start(t, 1))
	ctx := t.Context()
	root, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	steps := []func() error{
		func() error { _, err := root.UserAdd(ctx, "root", "root-pw"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := root.UserAdd(ctx, "bg", "bg-pw"); return err },
		func() error { _, err := root.RoleAdd(ctx, "bg"); return err },
		func() error {
			_, err := root.RoleGrantPermission(ctx, "bg", "/bg/", clientv3.GetPrefixRangeEnd("/bg/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := root.UserGrantRole(ctx, "bg", "bg"); return err },
		func() error { _, err := root.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("setting up etcd auth, step %d: %v", i, err)
		}
	}

	s, err := Open(ctx, Options{Endpoints: eps, Prefix: "/bg/", Username: "bg", Password: "bg-pw"})
	if err != nil {
		t.Fatalf("Open with the right password: %v", err)
	}
	defer s.Close()
	if _, err := s.Commit(ctx, storetest.SampleState(0), bluegreen.Event{Action: bluegreen.ActionInit}); err != nil {
		t.Fatalf("Commit as bg under /bg/: %v", err)
	}

	for name, o := range map[string]Options{
		"a wrong password":     {Endpoints: eps, Prefix: "/bg/", Username: "bg", Password: "wrong"},
		"no credentials":       {Endpoints: eps, Prefix: "/bg/"},
		"a prefix not its own": {Endpoints: eps, Prefix: "/other/", Username: "bg", Password: "bg-pw"},
	} {
		s, err := Open(ctx, o)
		if err == nil {
			s.Close()
			t.Errorf("Open with %s succeeded", name)
			continue
		}
		if msg := bluegreen.ErrorMessage(err); bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE || !strings.HasPrefix(msg, "state store refused access: etcd at "+eps[0]) {
			t.Errorf("Open with %s: %v (shown as %q), want EUNAVAILABLE naming the store", name, err, msg)
		}
		t.Logf("Open with %s: %v", name, err)
	}
}

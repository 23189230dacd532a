package bindtest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen/internal/bindtest"
)

func TestZZDebug(t *testing.T) {
	s := bindtest.Start(t, bindtest.Options{})
	st := time.Now()
	s.Set(t, "app.example.test.", "CNAME", time.Minute, "green.example.test.")
	t.Log("set took", time.Since(st))
	for _, n := range s.Servers() {
		l := n.Log()
		i := strings.Index(l, "running\n")
		t.Log("=====", n.Role, "\n", l[i:])
	}
}

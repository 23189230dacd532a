package sshdtest_test

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bluegreen/bluegreen/internal/sshdtest"
)

// TestStart logs in to the started sshd with its client key, the host key
// checked against its known_hosts file, and runs a command.
func TestStart(t *testing.T) {
	s := sshdtest.Start(t)
	pem, err := os.ReadFile(s.Identity)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	check, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: check})
	if err != nil {
		t.Fatalf("logging in to %s: %v\n%s", s, err, s.Log())
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output("echo hello from $(id -un)")
	if err != nil {
		t.Fatalf("running a command: %v\n%s", err, s.Log())
	}
	if got, want := strings.TrimSpace(string(out)), "hello from "+s.User; got != want {
		t.Errorf("the command printed %q, want %q", got, want)
	}
}

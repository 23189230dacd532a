package sshinstall

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strings"

	"golang.org/x/crypto/ssh"
)

// remote runs commands on the host, one SSH session each.
type remote struct{ c *ssh.Client }

// maxOutput bounds what run keeps of a command's stdout and stderr.
const maxOutput = 64 << 10

// run runs cmd (built with shellf) with stdin (nil for none) and returns
// its stdout. A failure carries the end of its stderr: cmd and its
// stderr never hold the token, which only ever goes through stdin.
func (r *remote) run(cmd string, stdin io.Reader) (string, error) {
	s, err := r.c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var out, errOut capped
	s.Stdin, s.Stdout, s.Stderr = stdin, &out, &errOut
	if err := s.Run(cmd); err != nil {
		if msg := strings.TrimSpace(errOut.String()); msg != "" {
			return "", fmt.Errorf("%w: %s", err, msg)
		}
		return "", err
	}
	return out.String(), nil
}

// putFile writes content to file on the host with mode (an octal string
// such as "0600"), creating missing directories under umask: into a
// temporary file next to it, whose mode is set before the rename over
// file. A failure leaves file as it was and removes the temporary file.
func (r *remote) putFile(file, mode, umask string, content io.Reader) error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	tmp := file + ".tmp-" + hex.EncodeToString(b[:])
	cmd := shellf(`umask %s && mkdir -p -- %s && { cat > %s && chmod %s %s && mv -f -- %s %s || { rm -f -- %s; exit 1; }; }`,
		umask, path.Dir(file), tmp, mode, tmp, tmp, file, tmp)
	_, err := r.run(cmd, content)
	return err
}

// capped is a bytes.Buffer that keeps its first maxOutput bytes and drops
// the rest.
type capped struct{ bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

package api

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

// releaseSHA is the release of green, the color of the fake service's
// hosts app-2 and app-3.
const releaseSHA = "0123456789abcdef0123456789abcdef01234567"

// ReleaseArchive of the fake service: a tar of one file, app.txt, saying
// which release it is, for green's hosts and releaseSHA only.
func (s *service) ReleaseArchive(_ context.Context, host, sha string, w io.Writer) error {
	if host != "app-3" && host != "app-2" {
		return bluegreen.Errorf(bluegreen.ENOTFOUND, "no color lists host %q", host)
	}
	if sha != releaseSHA {
		return bluegreen.Errorf(bluegreen.ENOTFOUND, "host %s's color has no release %s", host, sha)
	}
	tw := tar.NewWriter(w)
	body := "release " + sha + "\n"
	if err := tw.WriteHeader(&tar.Header{Name: "app.txt", Mode: 0o644, Size: int64(len(body))}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, body); err != nil {
		return err
	}
	return tw.Close()
}

func TestAgentReleaseArchive(t *testing.T) {
	a := newAgentServer(t)
	ctx := t.Context()
	agent, err := a.admin.CreateToken(ctx, TokenRequest{Name: "agent-app-3", Role: bluegreen.RoleAgent, Host: "app-3"})
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(a.url, agent.Secret, "agent@app-3")

	var buf bytes.Buffer
	if err := c.ReleaseArchive(ctx, "app-3", releaseSHA, &buf); err != nil {
		t.Fatalf("app-3's agent fetching its release: %v", err)
	}
	tr := tar.NewReader(&buf)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != "app.txt" {
		t.Fatalf("archive's first entry: %+v, %v; want app.txt", hdr, err)
	}
	if b, _ := io.ReadAll(tr); string(b) != "release "+releaseSHA+"\n" {
		t.Errorf("app.txt = %q", b)
	}

	// The answer's head.
	req, _ := http.NewRequestWithContext(ctx, "GET", a.url+"/v1/agent/app-3/release/"+releaseSHA, nil)
	req.Header.Set("Authorization", "Bearer "+agent.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 ||
		ct != "application/x-tar" || cd != `attachment; filename="release-`+releaseSHA+`.tar"` {
		t.Errorf("answer: %d, Content-Type %q, Content-Disposition %q", resp.StatusCode, ct, cd)
	}

	// Another host's route: 403, for the client too, and nothing written.
	if got := call(t, a.url, agent.Secret, "GET", "/v1/agent/app-2/release/"+releaseSHA); got != http.StatusForbidden {
		t.Errorf("agent of app-3 fetching app-2's release: status %d, want 403", got)
	}
	buf.Reset()
	if err := c.ReleaseArchive(ctx, "app-2", releaseSHA, &buf); bluegreen.ErrorCode(err) != bluegreen.EFORBIDDEN || buf.Len() != 0 {
		t.Errorf("client, another host: %v (%d bytes); want forbidden, nothing written", err, buf.Len())
	}
	// Nor any other role.
	if got := call(t, a.url, "s3cret", "GET", "/v1/agent/app-3/release/"+releaseSHA); got != http.StatusForbidden {
		t.Errorf("admin token on the release route: status %d, want 403", got)
	}
	// A sha that is not the host's release: 404 with the service's message.
	other := strings.Repeat("ab", 20)
	err = c.ReleaseArchive(ctx, "app-3", other, &buf)
	if bluegreen.ErrorCode(err) != bluegreen.ENOTFOUND || bluegreen.ErrorMessage(err) != "host app-3's color has no release "+other || buf.Len() != 0 {
		t.Errorf("wrong sha: %v (%d bytes); want not found naming the sha, nothing written", err, buf.Len())
	}
}

// streamService writes the first half of an archive, waits until the
// client has received it, then writes the second half or, with fail,
// fails.
type streamService struct {
	*service
	received chan struct{}
	fail     bool
}

const half = 256 << 10 // well past any buffer of the server

var errGit = errors.New("git archive: killed")

func (s *streamService) ReleaseArchive(ctx context.Context, host, sha string, w io.Writer) error {
	if _, err := w.Write(bytes.Repeat([]byte("a"), half)); err != nil {
		return err
	}
	select {
	case <-s.received:
	case <-time.After(10 * time.Second):
		return errors.New("the client never received the first half: the answer is not streamed")
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.fail {
		return errGit
	}
	_, err := w.Write(bytes.Repeat([]byte("b"), half))
	return err
}

// signalWriter closes received once it has been written n bytes. (The
// server keeps the last few KiB it was written in its buffer until more
// come: n stays below half by more than that.)
// It counts only: a bytes.Buffer would be written through its ReadFrom.
type signalWriter struct {
	len      int
	n        int
	received chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	had := w.len
	w.len += len(p)
	if had < w.n && w.len >= w.n {
		close(w.received)
	}
	return len(p), nil
}

func TestAgentReleaseArchiveStreams(t *testing.T) {
	for _, fail := range []bool{false, true} {
		svc := &streamService{service: &service{}, received: make(chan struct{}), fail: fail}
		a := newAgentServerOf(t, svc)
		agent, err := a.admin.CreateToken(t.Context(), TokenRequest{Name: "agent-app-3", Role: bluegreen.RoleAgent, Host: "app-3"})
		if err != nil {
			t.Fatal(err)
		}
		w := &signalWriter{n: half - 64<<10, received: svc.received}
		err = NewClient(a.url, agent.Secret, "agent@app-3").ReleaseArchive(t.Context(), "app-3", releaseSHA, w)
		switch {
		case !fail && (err != nil || w.len != 2*half):
			t.Errorf("streamed archive: %v, %d bytes; want %d", err, w.len, 2*half)
		case fail && bluegreen.ErrorCode(err) != bluegreen.EUNAVAILABLE:
			t.Errorf("an archive cut short after %d bytes: %v; want unavailable", w.len, err)
		}
	}
}

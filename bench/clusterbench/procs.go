package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bluegreen/bluegreen/bench/internal/benchkit"
)

// procs are the processes a run started, in start order. stop ends them
// in reverse order, by PID.
type procs struct {
	dir  string // logs and data of every process
	list []*proc
}

// proc is one started process: its stdout goes to the caller's parser
// (then to its log), its stderr to its log.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	stdout *io.PipeReader
	done   chan struct{} // closed when the process has exited
}

// start runs bin with args, named name (its log is dir/name.log), in its
// own process group so that a Ctrl-C at the terminal reaches only this
// program, which then stops it by PID.
func (ps *procs) start(name, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, log: filepath.Join(ps.dir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	p.stdout = pr
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = io.MultiWriter(pw, logf), logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	ps.list = append(ps.list, p)
	go func() {
		_ = p.cmd.Wait()
		pw.CloseWithError(fmt.Errorf("%s exited (%v); its log: %s", name, p.cmd.ProcessState, p.log))
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// discardStdout keeps reading p's stdout once the caller has what it needs,
// so that the process never blocks on a full pipe.
func (p *proc) discardStdout() { go func() { _, _ = io.Copy(io.Discard, p.stdout) }() }

// stop ends every process, the last started first: SIGTERM, then SIGKILL
// after grace.
func (ps *procs) stop(grace time.Duration) {
	for i := len(ps.list) - 1; i >= 0; i-- {
		benchkit.Terminate(ps.list[i].cmd.Process, ps.list[i].done, grace)
	}
}

// within runs f (which reads p's stdout) and gives up after limit, or when
// ctx is done, stopping the read by closing the pipe.
func within[T any](ctx context.Context, p *proc, limit time.Duration, what string, f func(io.Reader) (T, error)) (T, error) {
	type answer struct {
		v   T
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		v, err := f(p.stdout)
		ch <- answer{v, err}
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	var zero T
	select {
	case a := <-ch:
		if a.err != nil {
			return zero, fmt.Errorf("waiting for %s: %w", what, a.err)
		}
		p.discardStdout()
		return a.v, nil
	case <-t.C:
		p.stdout.CloseWithError(errors.New("timed out"))
		return zero, fmt.Errorf("timed out after %v waiting for %s (log: %s)", limit, what, p.log)
	case <-ctx.Done():
		p.stdout.CloseWithError(ctx.Err())
		return zero, ctx.Err()
	}
}

// startBackend starts bench/backend answering as color and returns its
// address.
func (ps *procs) startBackend(ctx context.Context, bin, color string) (string, error) {
	p, err := ps.start("backend-"+color, bin, "-color", color, "-listen", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	return within(ctx, p, 20*time.Second, "the "+color+" backend", func(r io.Reader) (string, error) {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "listening on http://"); ok {
				return strings.Fields(addr)[0], nil
			}
		}
		return "", fmt.Errorf("no \"listening on\" line: %v", sc.Err())
	})
}

// serveInfo is what `bluegreen -o json serve` prints once it serves.
type serveInfo struct {
	Public    string `json:"public"`
	API       string `json:"api"`
	TokenFile string `json:"token_file"`

	name, token string
}

// startServe writes config to dir/name/bluegreen.yaml, runs `serve` on it
// and returns its endpoints and token once it serves.
func (ps *procs) startServe(ctx context.Context, bin, name, config string) (*serveInfo, error) {
	dir := filepath.Join(ps.dir, name)
	path := filepath.Join(dir, "bluegreen.yaml")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return nil, err
	}
	p, err := ps.start(name, bin, "-o", "json", "serve", "--config", path)
	if err != nil {
		return nil, err
	}
	info, err := within(ctx, p, 60*time.Second, name+" to serve", func(r io.Reader) (*serveInfo, error) {
		var s serveInfo
		err := json.NewDecoder(r).Decode(&s)
		return &s, err
	})
	if err != nil {
		return nil, err
	}
	if info.Public == "" || info.API == "" || info.TokenFile == "" {
		log, _ := os.ReadFile(p.log)
		return nil, fmt.Errorf("%s did not say where it serves; its output:\n%s", name, log)
	}
	info.name = name
	info.Public = strings.TrimPrefix(info.Public, "http://")
	info.API = strings.TrimPrefix(info.API, "http://")
	b, err := os.ReadFile(info.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("reading %s's token: %w", name, err)
	}
	info.token = strings.TrimSpace(string(b))
	return info, nil
}

// startEtcd starts an n-member etcd cluster on loopback (the same short
// heartbeat and election timeout as the tests' internal/etcdtest) and
// returns its client endpoints, host:port, once every member is healthy.
func (ps *procs) startEtcd(ctx context.Context, bin string, n int) ([]string, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var clients, peerURLs, peers []string
	for i := range n {
		clients = append(clients, fmt.Sprintf("127.0.0.1:%d", ports[2*i]))
		peerURLs = append(peerURLs, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]))
		peers = append(peers, fmt.Sprintf("m%d=%s", i, peerURLs[i]))
	}
	for i := range n {
		name, peer := fmt.Sprintf("m%d", i), peerURLs[i]
		_, err := ps.start("etcd-"+name, bin, "--name", name, "--data-dir", filepath.Join(ps.dir, "etcd-"+name),
			"--listen-client-urls", "http://"+clients[i], "--advertise-client-urls", "http://"+clients[i],
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(peers, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "clusterbench", "--heartbeat-interval", "50", "--election-timeout", "500")
		if err != nil {
			return nil, err
		}
		ps.list[len(ps.list)-1].discardStdout()
	}
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	for i, c := range clients {
		err := benchkit.Poll(ctx, 30*time.Second, func() bool {
			resp, err := hc.Get("http://" + c + "/health")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		if err != nil {
			return nil, fmt.Errorf("etcd member m%d not healthy (log: %s): %w", i, filepath.Join(ps.dir, fmt.Sprintf("etcd-m%d.log", i)), err)
		}
	}
	return clients, nil
}

// freePorts returns k distinct ports on 127.0.0.1 that were free a moment
// ago (each held until all are chosen).
func freePorts(k int) ([]int, error) {
	ports := make([]int, k)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the bluegreen binary built once by TestMain for the end-to-end
// tests, which drive it as a user would: real processes on loopback.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bluegreen-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "bluegreen")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building bluegreen:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a process the test started; it is killed at cleanup.
type proc struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr *lockedBuffer
	done   chan struct{}
}

// start runs the binary with args and kills it when the test ends.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startBin(t, binPath, args...)
}

// startBin is start with the binary at bin.
func startBin(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(bin, args...), fmt.Sprint(args))
}

// startCmd starts cmd with its stdout readable and its stderr kept, and
// kills it when the test ends, logging its stderr (as name) if the test
// failed.
func startCmd(t *testing.T, cmd *exec.Cmd, name string) *proc {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdout: bufio.NewReader(out), stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("stderr of %s:\n%s", name, p.stderr.String())
		}
	})
	return p
}

// lockedBuffer lets the test read stderr while the process writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// readUntil reads stdout lines until one contains marker, with a deadline.
func (p *proc) readUntil(t *testing.T, marker string) []string {
	t.Helper()
	type res struct {
		lines []string
		err   error
	}
	ch := make(chan res, 1)
	go func() {
		var lines []string
		for {
			line, err := p.stdout.ReadString('\n')
			if line != "" {
				lines = append(lines, strings.TrimRight(line, "\n"))
			}
			if err != nil {
				ch <- res{lines, err}
				return
			}
			if strings.Contains(line, marker) {
				ch <- res{lines, nil}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("process ended before printing %q: %v; stdout %q", marker, r.err, r.lines)
		}
		return r.lines
	case <-time.After(60 * time.Second):
		t.Fatalf("no %q on stdout within 60s", marker)
	}
	return nil
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// startApp runs `bluegreen sample-app` for color and returns its address.
func startApp(t *testing.T, color string) (string, *proc) {
	t.Helper()
	p := start(t, "sample-app", "--color", color, "--listen", "127.0.0.1:0")
	lines := p.readUntil(t, "listening on")
	addr := lines[len(lines)-1]
	addr = addr[strings.Index(addr, "http://")+len("http://"):]
	return addr, p
}

// server is a running `bluegreen serve` and how to reach it.
type server struct {
	*proc
	dir, config            string
	public, preview, apiAd string
	token                  string
}

// writeConfig writes a config for the two upstreams into dir.
func writeConfig(t *testing.T, dir, blue, green, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
preview: 127.0.0.1:0
api: 127.0.0.1:0
state: state
router:
  drain_timeout: 3s
%s
blue:
  branch: production
  upstreams: [%s]
  health: {path: /healthz, interval: 200ms, timeout: 150ms}
green:
  branch: green
  upstreams: [%s]
  health: {path: /healthz, interval: 200ms, timeout: 150ms}
`, extra, blue, green)
	path := filepath.Join(dir, "bluegreen.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServe runs `bluegreen serve --config cfg` and waits until it serves.
func startServe(t *testing.T, cfg string) *server {
	t.Helper()
	return startServeBin(t, binPath, cfg)
}

// startServeBin is startServe with the binary at bin.
func startServeBin(t *testing.T, bin, cfg string) *server {
	t.Helper()
	p := startBin(t, bin, "serve", "--config", cfg)
	lines := p.readUntil(t, "token ")
	s := &server{proc: p, dir: filepath.Dir(cfg), config: cfg}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "public":
			s.public = strings.TrimPrefix(f[1], "http://")
		case "preview":
			s.preview = strings.TrimPrefix(f[1], "http://")
		case "api":
			s.apiAd = strings.TrimPrefix(f[1], "http://")
		case "token":
			b, err := os.ReadFile(f[1])
			if err != nil {
				t.Fatal(err)
			}
			s.token = strings.TrimSpace(string(b))
		}
	}
	if s.public == "" || s.apiAd == "" || s.token == "" {
		t.Fatalf("could not read the endpoints from %q", lines)
	}
	return s
}

// cli runs a CLI verb against s and returns stdout, stderr and the exit code.
func (s *server) cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCLI(t, append([]string{"--server", s.apiAd, "--token", s.token}, args...)...)
}

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(testEnv(), "BLUEGREEN_ACTOR=e2e-tester")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// mustCLI runs a verb that must succeed.
func (s *server) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := s.cli(t, args...)
	if code != 0 {
		t.Fatalf("bluegreen %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}

// get fetches url and returns status and body.
func get(t *testing.T, url string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// getMaybe fetches url; a connection error gives status 0.
func getMaybe(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// processAlive reports whether pid runs: it exists and is not a zombie
// (an orphan nobody has reaped yet is dead for this purpose).
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return v
}

// testEnv is the environment for the binary under test: this process's,
// without what a CI runner (GitHub Actions) or the caller's bluegreen
// settings would add, so that a test never writes to the real job's
// outputs or talks to a real server.
func testEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GITHUB_") || strings.HasPrefix(kv, "RUNNER_") || strings.HasPrefix(kv, "BLUEGREEN_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// killPidFilesAtEnd kills, when the test ends, the processes whose pids the
// command driver's scripts wrote to *.pid files in dir (apps started with
// setsid outlive serve).
func killPidFilesAtEnd(t *testing.T, dir string) {
	t.Cleanup(func() {
		files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			var pid int
			fmt.Sscanf(string(b), "%d", &pid)
			if pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

// writeHostsConfig writes writeConfig's config with blue on one upstream
// and green on two hosts, app-3 and app-4, and returns its path.
func writeHostsConfig(t *testing.T, blue, app3, app4 string) string {
	t.Helper()
	cfg := writeConfig(t, t.TempDir(), blue, "GREEN", "")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	list := fmt.Sprintf("hosts: [{name: app-3, address: %q}, {name: app-4, address: %q}]", app3, app4)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "upstreams: [GREEN]", list, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

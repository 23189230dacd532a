package daemon

// The hand-over: SIGUSR2 makes serve start a new serve (the binary now at
// its path, so an upgraded one) on the same listening sockets, and step
// aside once the new one serves. The sockets never close, so no connection
// is refused; connections the old serve holds end where their clients are
// told (router.Server.Retire), so no request is lost to the race that an
// nginx reload loses them to.
//
// In order, in the old serve:
//  1. it refuses, changing nothing, while the lock is held, an automatic
//     promotion is pending or a post-switch watch runs (controller.Pause
//     says why);
//  2. it stops its API (calls in progress finish; new ones wait in the
//     socket's queue) and pauses its controller and health checks, so that
//     the committed state cannot change while the new serve starts;
//  3. it starts the new serve with the three sockets and a pipe, and waits
//     for "ready" on the pipe (the new serve has loaded the state and
//     accepts on all three sockets);
//  4. then it stops accepting, serves its open connections with
//     "Connection: close" until they end or the drain timeout passes,
//     following the live color in the store meanwhile, and exits 0.
//
// If the new serve fails (a bad configuration, a broken binary, no "ready"
// in time), the old one stops it, reloads the state (the new one may have
// committed to it before failing) and puts its own colors back in it, and
// serves its API again; the history says why. The new serve checks the
// sockets' addresses before it touches the state.
//
// The sockets are passed as raw descriptors (syscall.ForkExec): os/exec
// would take them through os.File's Fd, which switches a socket to
// blocking mode, and the mode is shared with the old serve's listeners.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/router"
)

// The environment through which a serve hands its sockets to the next one.
const (
	envListenFDs    = "BLUEGREEN_LISTEN_FDS"    // "3,4,5": public, preview, API
	envReadyFD      = "BLUEGREEN_READY_FD"      // the pipe to write "ready\n" to
	envHandoverFrom = "BLUEGREEN_HANDOVER_FROM" // the old serve's pid
)

// handoverReadyTimeout bounds the wait for the new serve's "ready".
const handoverReadyTimeout = time.Minute

// listenerNames name serve's three sockets, in their order.
var listenerNames = [3]string{"public", "preview", "api"}

// inheritance is what a serve started by a hand-over received.
type inheritance struct {
	lns   []net.Listener // public, preview, API
	ready *os.File
	from  int // the old serve's pid
}

// takeInheritance reads the hand-over's environment and removes it (the
// apps serve starts must not see it). It returns nil when this serve was
// not started by a hand-over.
func takeInheritance() (*inheritance, error) {
	fds, ok := os.LookupEnv(envListenFDs)
	if !ok {
		return nil, nil
	}
	readyFD, from := os.Getenv(envReadyFD), os.Getenv(envHandoverFrom)
	for _, k := range []string{envListenFDs, envReadyFD, envHandoverFrom} {
		os.Unsetenv(k)
	}
	in := &inheritance{}
	in.from, _ = strconv.Atoi(from)
	list := strings.Split(fds, ",")
	if len(list) != len(listenerNames) {
		return nil, fmt.Errorf("%s=%q: want %d descriptors", envListenFDs, fds, len(listenerNames))
	}
	for i, s := range list {
		f, err := inheritedFile(envListenFDs, s, listenerNames[i])
		if err == nil {
			var ln net.Listener
			ln, err = net.FileListener(f) // a duplicate: f is not needed after
			f.Close()
			in.lns = append(in.lns, ln)
		}
		if err != nil {
			closeAll(in.lns)
			return nil, fmt.Errorf("the %s socket handed over: %w", listenerNames[i], err)
		}
	}
	f, err := inheritedFile(envReadyFD, readyFD, "ready")
	if err != nil {
		closeAll(in.lns)
		return nil, err
	}
	in.ready = f
	return in, nil
}

// inheritedFile opens descriptor s, named in variable env.
func inheritedFile(env, s, name string) (*os.File, error) {
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s: %q is not an inherited descriptor", env, s)
	}
	// Not to be passed on to what this serve starts (git, apps, a
	// supervisor): the old serve waits for the ready pipe's end.
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name), nil
}

// listeners returns the inherited sockets, after checking that they listen
// where the configuration says (a hand-over keeps the addresses).
func (in *inheritance) listeners(addrs ...string) ([]net.Listener, error) {
	for i, a := range addrs {
		if got := in.lns[i].Addr(); !sameAddr(a, got) {
			closeAll(in.lns)
			return nil, fmt.Errorf("the %s socket handed over listens on %s, but the configuration says %s: a hand-over keeps the addresses; restart serve to change them",
				listenerNames[i], got, a)
		}
	}
	return in.lns, nil
}

// sameAddr reports whether a listener on got is one the configured address
// want asks for (port 0: any port).
func sameAddr(want string, got net.Addr) bool {
	w, err := net.ResolveTCPAddr("tcp", want)
	g, ok := got.(*net.TCPAddr)
	if err != nil || !ok || (w.Port != 0 && w.Port != g.Port) {
		return false
	}
	if w.IP == nil || w.IP.IsUnspecified() {
		return g.IP == nil || g.IP.IsUnspecified()
	}
	return w.IP.Equal(g.IP)
}

// signalReady tells the old serve that this one serves.
func (in *inheritance) signalReady() {
	_, _ = in.ready.WriteString("ready\n")
	in.ready.Close()
}

// handover is what the old serve's side of a hand-over works with.
type handover struct {
	lns     []net.Listener // public, preview, API (run replaces the API's when it serves it again)
	ctl     *controller.Controller
	logger  *slog.Logger
	timeout time.Duration // for the API's calls in progress to finish
	// stopAPI shuts the API server down; startAPI serves the API again on
	// ln, after a failed hand-over.
	stopAPI  func(context.Context) error
	startAPI func(ln net.Listener)
	// pauseChecks stops the health checks and the app event recorder, and
	// returns what starts them again.
	pauseChecks func() (resume func())
	// recover brings this serve back in line with the store after a failed
	// hand-over, whose new serve may have committed to it.
	recover func(context.Context) error
}

// run hands over to a new serve and returns its pid. On an error this serve
// carries on: its API serves again, its checks and controller run, and the
// error says why (and what could not be restored, if anything).
func (h *handover) run(ctx context.Context) (int, error) {
	// Say no before disturbing anything; Pause checks again below, once
	// the API has stopped.
	resume, err := h.ctl.Pause()
	if err != nil {
		return 0, err
	}
	resume()

	// Duplicates of the three sockets, for the new serve and for serving
	// the API again. They are taken with the raw descriptors: os.File's Fd,
	// which os/exec calls, would switch the sockets (shared with this
	// serve's listeners) to blocking mode.
	fds := make([]int, 0, len(h.lns))
	defer func() {
		for _, fd := range fds {
			if fd >= 0 {
				syscall.Close(fd)
			}
		}
	}()
	for i, ln := range h.lns {
		fd, err := dupSocket(ln)
		if err != nil {
			return 0, fmt.Errorf("duplicating the %s socket: %w", listenerNames[i], err)
		}
		fds = append(fds, fd)
	}
	restartAPI := func() error {
		f := os.NewFile(uintptr(fds[2]), "api")
		fds[2] = -1                    // f owns it now
		ln, err := net.FileListener(f) // its own duplicate
		f.Close()
		if err != nil {
			return fmt.Errorf("serving the API again: %w", err)
		}
		h.lns[2] = ln
		h.startAPI(ln)
		return nil
	}

	stopCtx, cancel := context.WithTimeout(ctx, h.timeout)
	err = h.stopAPI(stopCtx)
	cancel()
	if err != nil {
		return 0, errors.Join(fmt.Errorf("the API's calls in progress did not finish within %s", h.timeout), restartAPI())
	}
	resume, err = h.ctl.Pause()
	if err != nil {
		return 0, errors.Join(err, restartAPI())
	}
	resumeChecks := h.pauseChecks()
	fail := func(err error) (int, error) {
		resume()
		rerr := h.recover(context.WithoutCancel(ctx)) // before the checks commit on a stale revision
		resumeChecks()
		return 0, errors.Join(err, rerr, restartAPI())
	}

	exe, err := os.Executable()
	if err != nil {
		return fail(fmt.Errorf("finding serve's binary: %w", err))
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	defer readyR.Close()
	wfd, err := rawFD(readyW)
	if err != nil {
		readyW.Close()
		return fail(err)
	}
	env := append(os.Environ(), envListenFDs+"=3,4,5", envReadyFD+"=6", envHandoverFrom+"="+strconv.Itoa(os.Getpid()))
	pid, err := syscall.ForkExec(exe, os.Args, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2, uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2]), uintptr(wfd)},
	})
	readyW.Close()
	if err != nil {
		return fail(fmt.Errorf("starting %s: %w", exe, err))
	}
	proc, _ := os.FindProcess(pid) // always succeeds on Unix
	h.logger.Info("hand-over: started the new serve; waiting for it to serve", "pid", pid, "binary", exe)
	exited := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := proc.Wait()
		exited <- st
	}()

	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(readyR).ReadString('\n')
		switch {
		case errors.Is(err, io.EOF):
			err = errors.New("it exited before serving")
		case err == nil && line != "ready\n":
			err = fmt.Errorf("it said %q", line)
		}
		ready <- err
	}()
	t := time.NewTimer(handoverReadyTimeout)
	defer t.Stop()
	var end *os.ProcessState
	select {
	case err = <-ready:
	case end = <-exited:
		err = errors.New("it exited before serving")
	case <-t.C:
		err = fmt.Errorf("it did not serve within %s", handoverReadyTimeout)
	case <-ctx.Done():
		err = fmt.Errorf("this serve was told to stop meanwhile")
	}
	if err == nil {
		return pid, nil
	}
	// It failed: stop it, and say how it ended.
	if end == nil {
		_ = proc.Signal(syscall.SIGTERM)
		select {
		case end = <-exited:
		case <-time.After(10 * time.Second):
			_ = proc.Kill()
			end = <-exited
		}
	}
	how := "it stopped"
	if end != nil {
		how = "it ended with " + end.String()
	}
	return fail(fmt.Errorf("the new serve (pid %d) did not take over: %v; %s (its log above says why)", pid, err, how))
}

// dupSocket returns a duplicate of ln's descriptor, closed on exec, without
// changing the socket's mode.
func dupSocket(ln net.Listener) (int, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", ln)
	}
	return withFD(sc, func(fd uintptr) (int, error) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			return -1, errno
		}
		return int(r), nil
	})
}

// rawFD returns c's descriptor, valid while c is open, without changing its
// mode (as os.File's Fd would).
func rawFD(c syscall.Conn) (int, error) {
	return withFD(c, func(fd uintptr) (int, error) { return int(fd), nil })
}

// withFD calls f with c's descriptor.
func withFD(c syscall.Conn, f func(fd uintptr) (int, error)) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, ferr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, ferr = f(s) }); err != nil {
		return -1, err
	}
	return fd, ferr
}

// retire is the old serve's end after a hand-over: its data-plane servers
// stop accepting and serve their open connections with "Connection: close"
// until they end or drain passes (or ctx ends: serve was told to stop),
// with the router following the live color the new serve commits meanwhile.
func retire(ctx context.Context, rt *router.Router, store bluegreen.Store, servers []*router.Server, drain time.Duration, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, drain)
	defer cancel()
	follow := make(chan struct{})
	go func() {
		defer close(follow)
		every(ctx, 100*time.Millisecond, func() {
			st, err := store.Load(ctx)
			if err == nil && st.Live.Valid() && st.Live != rt.Live() {
				logger.Info("hand-over: following the live color the new serve committed", "live", st.Live)
				rt.Switch(st.Live)
			}
		})
	}()
	done := make(chan error, len(servers))
	for _, s := range servers {
		go func() { done <- s.Retire(ctx) }()
	}
	var left bool
	for range servers {
		if err := <-done; err != nil {
			left = true
		}
	}
	cancel()
	<-follow
	if left {
		logger.Warn("hand-over: connections still open at the drain timeout (or a stop signal); closing them", "drain_timeout", drain)
	}
	for _, s := range servers {
		s.Close()
	}
}

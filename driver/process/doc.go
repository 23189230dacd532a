// Package process runs one color's app as operating-system processes that
// outlive the bluegreen server.
//
// Each running release has a small supervisor: the bluegreen binary itself run
// as `bluegreen supervise --spec FILE`, in a session of its own and with no
// pipe to the server, so that neither a SIGTERM to the server's process group
// nor a kill -9 of the server reaches it. The supervisor runs the app's command
// with /bin/sh -c in the release directory, in a process group of its own and
// with exactly the environment of the Spec; it pipes the app's stdout and
// stderr into a log file rotated by size, restarts a crashed app with
// exponential backoff, and on SIGTERM stops the app's process group (SIGTERM,
// then SIGKILL after the grace period) and exits.
//
// Everything the server needs to find the app again lives in the Spec's
// StateDir:
//
//	spec.json        the Spec (mode 0600: the environment may hold secrets)
//	supervisor.json  supervisor pid and start time, app pid and start time, release (rewritten atomically)
//	events.jsonl     one JSON Event per line: started, exited, restarting, stopping, stopped ...
//	app.log          the app's output; app.log.1 ... app.log.N are older rotations
//	supervisor.log   the supervisor's own log
//
// The server side is a Driver: Start launches a supervisor, Adopt finds one
// again after the server restarted (checking the pid and its start time in
// /proc, so a reused pid is never mistaken for the supervisor), and the
// returned Handle stops it, reads its events and tails the app's log.
//
// The package is Linux-only: it reads /proc and uses process groups and
// sessions.
package process

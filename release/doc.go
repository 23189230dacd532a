// Package release turns a git ref into a release directory: it validates the
// ref, keeps a bare mirror cache of the application's repository, resolves the
// ref to a commit, writes that commit's tree into a fresh directory and prunes
// old release directories.
//
// # Security model
//
// Refs come from users at run time (the CLI, the API, CI), so they are
// untrusted. bluegreen.ValidateRef rejects anything outside a small alphabet before any
// git process starts, and every git process is started with an argv (never a
// shell), with --end-of-options in front of user-derived operands, and with an
// environment built from scratch: no GIT_* variable of the caller reaches git
// (GIT_DIR, GIT_SSH_COMMAND, GIT_CONFIG_PARAMETERS, ... are all dropped),
// GIT_TERMINAL_PROMPT=0, GIT_CONFIG_NOSYSTEM=1, LC_ALL=C. Only PATH, HOME,
// XDG_CONFIG_HOME, TMPDIR, SSH_AUTH_SOCK and the proxy variables are passed
// through, so the operator's own ~/.gitconfig (credential helpers, insteadOf)
// and SSH agent keep working. Command-line configuration then overrides what
// matters for safety: repository hooks are disabled (core.hooksPath=/dev/null),
// only the https, ssh and git transports are allowed (plus file when the
// configured repository is local; ext:: and remote helpers never), and
// automatic gc runs in the foreground. Each git process runs in its own session
// (no controlling terminal, so ssh cannot prompt) and its whole process group
// is killed when the context ends.
//
// # Checkout
//
// Checkout uses `git archive --format=tar` piped into an extractor written in
// Go, rather than `git worktree add`: the release directory is a plain
// directory with no .git link back into the cache, so build steps cannot
// touch the cache, the cache can be re-created or garbage-collected without
// breaking running releases, and nothing has to be unregistered when a release
// is pruned. The extractor writes through an os.Root, so no archive entry can
// land outside the release directory even through a symlink; the cache's
// info/attributes turns off export-ignore and export-subst so the directory
// holds exactly the commit's tree. Files get the current time as mtime, as with
// git checkout. Submodules are not fetched: a gitlink becomes an empty
// directory.
package release

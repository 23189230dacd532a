package release

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// remote is a validated repository location.
type remote struct {
	url    string // what git is given
	local  bool   // a path on this machine (needs the file transport)
	shown  string // url with any password redacted, for logs and errors
	secret string // the password in url, scrubbed from git's output
}

// parseRemote validates the repository location raw: a https, ssh, git or
// file URL (not plain http, which config refuses too: code fetched over it
// can be changed on the way, and credentials in it travel in clear), an scp-like "user@host:path", or a local directory (made
// absolute). It rejects a leading "-", control characters and git's
// "<transport>::<address>" remote-helper syntax (ext::sh -c ... runs commands).
func parseRemote(raw string) (remote, error) {
	bad := func(rule string) (remote, error) {
		return remote{}, bluegreen.Errorf(bluegreen.EINVALID, "invalid repository %s: %s", quoteRef(redact(raw)), rule)
	}
	switch {
	case raw == "":
		return bad("it is empty")
	case strings.HasPrefix(raw, "-"):
		return bad(`it starts with "-"`)
	case strings.ContainsFunc(raw, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return bad("it contains a control character")
	case strings.Contains(raw, "::"):
		return bad(`the "<transport>::<address>" syntax is not supported`)
	}
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return bad("it is not a valid URL")
		}
		switch strings.ToLower(u.Scheme) {
		case "https", "ssh", "git":
			if u.Hostname() == "" || strings.HasPrefix(u.Hostname(), "-") {
				return bad("the host is empty or starts with \"-\"")
			}
			if u.User != nil && strings.HasPrefix(u.User.Username(), "-") {
				return bad(`the user name starts with "-"`)
			}
			pw, _ := u.User.Password()
			return remote{url: raw, shown: u.Redacted(), secret: pw}, nil
		case "file":
			if !isDir(u.Path) {
				return bad("no such directory")
			}
			if !isGitRepo(u.Path) {
				return bad("the directory is not a git repository")
			}
			return remote{url: raw, local: true, shown: raw}, nil
		}
		return bad("unsupported scheme " + quoteRef(u.Scheme) + ": use https, ssh, git or file")
	}
	colon, slash := strings.Index(raw, ":"), strings.Index(raw, "/")
	if colon >= 0 && (slash < 0 || colon < slash) { // scp-like, as git reads it
		host := raw[:colon]
		if at := strings.LastIndex(host, "@"); at >= 0 {
			if strings.HasPrefix(host, "-") {
				return bad(`the user name starts with "-"`)
			}
			host = host[at+1:]
		}
		if host == "" || strings.HasPrefix(host, "-") {
			return bad(`the host is empty or starts with "-"`)
		}
		if strings.HasPrefix(raw[colon+1:], "-") {
			return bad(`the path starts with "-"`)
		}
		return remote{url: raw, shown: raw}, nil
	}
	abs, err := filepath.Abs(raw)
	if err != nil || !isDir(abs) {
		return bad("no such directory")
	}
	if !isGitRepo(abs) {
		return bad("the directory is not a git repository")
	}
	return remote{url: abs, local: true, shown: abs}, nil
}

// isGitRepo reports whether dir looks like a git repository: a work tree
// (a .git directory or file) or a bare repository (HEAD and objects), so
// that a wrong path is named when serve starts, not at the first fetch.
func isGitRepo(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		return true
	}
	_, head := os.Stat(filepath.Join(dir, "HEAD"))
	return head == nil && isDir(filepath.Join(dir, "objects"))
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// redact hides the password of a URL-shaped string.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

package config

import (
	"fmt"
	"io/fs"
	"os"
)

// CheckMode reports a config file that its group or other users can write:
// it holds shell commands (build steps, hooks, checks) that serve runs, so
// whoever can write it can run commands as serve's user. The error is an
// *Error naming the file, its mode and the fix ("chmod go-w FILE"); it is nil
// when the file is private or cannot be stat'ed (Load then says why).
// serve refuses to start, and a reload refuses to apply, when CheckMode
// fails. The mode is that of the file a symlink points to.
func CheckMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &Error{File: path, Message: fmt.Sprintf(
			"the file is writable by %s (mode %v), but it holds commands that bluegreen runs; run: chmod go-w %s",
			writers(perm), perm, path)}
	}
	return nil
}

// writers names who besides the owner can write a file of mode perm.
func writers(perm fs.FileMode) string {
	switch {
	case perm&0o020 != 0 && perm&0o002 != 0:
		return "its group and other users"
	case perm&0o020 != 0:
		return "its group"
	}
	return "other users"
}

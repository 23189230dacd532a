package sshinstall

import (
	"fmt"
	"strings"
)

// Quote returns s as one word of a POSIX shell command line: s between
// single quotes, each single quote of s written as the four characters
// ' \ ' ' (close, an escaped quote, reopen). Inside single quotes a shell
// expands nothing, so the word the shell sees is s exactly, whatever s
// holds ($, `, ;, newlines, ...). The empty string becomes a pair of
// single quotes.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellf is fmt.Sprintf for remote command lines: format is fixed words
// (a constant of this package, never user input) with a %s for each value,
// and every value goes in through Quote. It is the only way this package
// builds a command line.
func shellf(format string, values ...string) string {
	q := make([]any, len(values))
	for i, v := range values {
		q[i] = Quote(v)
	}
	return fmt.Sprintf(format, q...)
}

// unitQuote returns s as one word of a systemd unit's command line
// (ExecStart=): as it is when it holds only letters, digits and
// /._:,=+@- (a path, a URL or a name, readable), otherwise between double
// quotes, with \ and " escaped by a
// backslash, % written %% (a specifier otherwise) and $ written $$ (an
// environment variable otherwise). It refuses control characters, which
// could end the line and start a directive of their own.
func unitQuote(s string) (string, error) {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%q holds a control character, which a unit file cannot hold", s)
		}
	}
	if s != "" && strings.Trim(s, unitSafe) == "" {
		return s, nil
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$")
	return `"` + r.Replace(s) + `"`, nil
}

// unitSafe are the characters unitQuote leaves bare.
const unitSafe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._:,=+@-"

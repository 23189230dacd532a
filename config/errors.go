package config

import (
	"fmt"
	"strings"

	"github.com/bluegreen/bluegreen"
)

// Error is one problem in a config file, at a position when it has one.
// Its text is "file:line:col: message" (or "file: message" when Line is 0).
type Error struct {
	// File is the path as given to Load or Parse; "" when Parse got no name.
	File string
	// Line and Column are 1-based; both are 0 when the problem has no place
	// in the file (for example the file cannot be read).
	Line, Column int
	// Message says what is wrong and what is expected, e.g.
	// `listen: "localhost" is not host:port`.
	Message string
	// Err is the underlying cause, if any (an I/O error from Load).
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Unwrap returns the underlying cause, so errors.Is(err, fs.ErrNotExist)
// works on an error from Load.
func (e *Error) Unwrap() error { return e.Err }

// As makes errors.As(err, **bluegreen.Error) succeed with an EINVALID error
// carrying e's text, so bluegreen.ErrorCode reports config problems as invalid.
func (e *Error) As(target any) bool { return asInvalid(e.Error(), target) }

// ErrorList is every problem found in a config file, sorted by position.
// Load and Parse return a non-empty ErrorList (never a typed nil) as their
// error; its text has one "file:line:col: message" line per problem.
type ErrorList []*Error

// Error implements the error interface: one problem per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so errors.As finds an individual *Error and
// errors.Is finds an underlying cause.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// As makes errors.As(err, **bluegreen.Error) succeed with an EINVALID error
// whose message is the whole list's text.
func (l ErrorList) As(target any) bool { return asInvalid(l.Error(), target) }

func asInvalid(msg string, target any) bool {
	p, ok := target.(**bluegreen.Error)
	if ok {
		*p = bluegreen.Errorf(bluegreen.EINVALID, "%s", msg)
	}
	return ok
}

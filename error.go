package bluegreen

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in the api package and to
// one CLI exit code in cmd/bluegreen.
const (
	ECONFLICT     = "conflict"     // the state changed under us (revision mismatch) or a lock is held
	EINTERNAL     = "internal"     // a bug or an unexpected failure of a dependency
	EINVALID      = "invalid"      // the request is malformed or names something invalid
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	EREFUSED      = "refused"      // the request is well-formed but unsafe in the current state (e.g. unhealthy color)
	EUNAUTHORIZED = "unauthorized" // no credentials, or wrong ones
	EFORBIDDEN    = "forbidden"    // valid credentials without the right to do this
	EUNAVAILABLE  = "unavailable"  // a dependency (store, upstream) cannot be reached right now
	ELIMITED      = "rate_limited" // too many calls (failed authentications) from one client; retry later
)

// Error is the domain error: a machine-readable Code and a human message that
// is safe to show to the caller. Wrap it with fmt.Errorf("...: %w", err) to add
// context; ErrorCode and ErrorMessage find it again.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for a nil
// error and EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, "" for a
// nil error and "internal error" for any other error, so that internal details
// never leak to API callers.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrOutcomeUnknown is wrapped by a Store's error when a write was sent but
// its answer never came and the store could not be asked whether it was
// stored (a remote store that stopped answering): it may be stored, and may
// yet become visible when the store answers again. The error's message
// says so; callers must not report that nothing changed.
var ErrOutcomeUnknown = &Error{Code: EUNAVAILABLE, Message: "the write may have been stored: the state store did not answer"}

// ErrConflict is returned by Store.Commit when the stored revision is not the
// one the caller read.
var ErrConflict = &Error{Code: ECONFLICT, Message: "state changed concurrently; read it again and retry"}

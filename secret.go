package bluegreen

import (
	"fmt"
	"io"
	"log/slog"
)

// Secret is a credential: a TSIG secret in base64, an API token, a secret
// key. It prints, logs and marshals as "[redacted]" whatever the verb, so
// that a Secret inside a struct that is printed, logged or encoded does not
// leak; only Reveal returns it. The zero value is the empty secret (compare
// with "" to test for it). Safe for concurrent use: it is a string.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret itself. Call it only to hand the secret to the
// code that signs or authenticates with it.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (s Secret) GoString() string { return redacted }

// Format writes "[redacted]" for every verb (%s, %v, %q, %x, %d...).
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue makes slog write "[redacted]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText writes "[redacted]" (JSON, YAML and other text encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

package bluegreen

import "fmt"

// Color names one of the two parallel environments.
type Color string

// The two colors. There are exactly two; every other value is invalid.
const (
	Blue  Color = "blue"
	Green Color = "green"
)

// Colors lists both colors in a stable order (blue first).
var Colors = [2]Color{Blue, Green}

// ParseColor returns the Color named by s, or an EINVALID error naming s.
func ParseColor(s string) (Color, error) {
	switch Color(s) {
	case Blue, Green:
		return Color(s), nil
	}
	return "", Errorf(EINVALID, "unknown color %q: want blue or green", s)
}

// Valid reports whether c is Blue or Green.
func (c Color) Valid() bool { return c == Blue || c == Green }

// Other returns the other color: Green for Blue and Blue for Green.
// It panics on an invalid color, which is a programming error.
func (c Color) Other() Color {
	switch c {
	case Blue:
		return Green
	case Green:
		return Blue
	}
	panic(fmt.Sprintf("bluegreen: Other of invalid color %q", string(c)))
}

// String returns the color's name.
func (c Color) String() string { return string(c) }

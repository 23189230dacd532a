package config

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// str decodes a scalar as text. Numbers are taken as written (a port or a
// branch called 2024); booleans and null need quotes or a !!str tag. want
// names the expected value for messages.
func (d *decoder) str(v value, want string) (string, bool) {
	switch n := v.node.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.LiteralNode:
		return n.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode:
		return n.GetToken().Value, true
	case *ast.MappingNode:
		if s, ok := glued(n); ok {
			return s, true
		}
	case *ast.BoolNode, *ast.NullNode, *ast.InfinityNode, *ast.NanNode:
		if v.tag == "!!str" {
			return n.GetToken().Value, true
		}
	}
	if v.empty() {
		d.invalid(v, "missing value (want %s)", want)
	} else {
		d.invalid(v, "want %s, got %s", want, describe(v))
	}
	return "", false
}

// glued recovers a plain scalar such as 127.0.0.1:9001 that goccy/go-yaml
// v1.19.2 splits into a one-pair mapping when it sits in a flow sequence
// inside a flow mapping ({upstreams: [127.0.0.1:9001]}; upstream issue #832).
// YAML says a ':' not followed by white space belongs to the scalar, so the
// pair is taken back as text only when key, ':' and value touch.
func glued(m *ast.MappingNode) (string, bool) {
	if len(m.Values) != 1 || m.Start == nil || m.Start.Value != ":" {
		return "", false
	}
	mv := m.Values[0]
	key, colon := mv.Key.GetToken(), mv.Start
	if mv.Value == nil || colon == nil || key == nil || quoted(mv.Key) || quoted(mv.Value) {
		return "", false
	}
	switch mv.Value.(type) {
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode:
	default:
		return "", false
	}
	val := mv.Value.GetToken()
	kp, cp, vp := key.Position, colon.Position, val.Position
	if kp.Line != cp.Line || cp.Line != vp.Line || kp.Column+len(key.Value) != cp.Column || cp.Column+1 != vp.Column {
		return "", false
	}
	return key.Value + ":" + val.Value, true
}

// describe names what a value is, for "want X, got Y" messages.
func describe(v value) string {
	switch n := v.node.(type) {
	case nil, *ast.NullNode:
		return "nothing"
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.BoolNode:
		return "the boolean " + n.GetToken().Value
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + n.GetToken().Value
	case *ast.StringNode, *ast.LiteralNode:
		return fmt.Sprintf("the string %q", scalarText(n))
	}
	return strings.ToLower(v.node.Type().String())
}

func scalarText(n ast.Node) string {
	if l, ok := n.(*ast.LiteralNode); ok {
		return l.Value.Value
	}
	return n.GetToken().Value
}

// quoted reports whether a string was written in quotes.
func quoted(n ast.Node) bool {
	tk := n.GetToken()
	return tk != nil && (tk.Type == token.DoubleQuoteType || tk.Type == token.SingleQuoteType)
}

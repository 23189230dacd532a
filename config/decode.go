package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// This file is the generic part of the decoder: a walker over goccy's AST that
// knows mappings, lists and scalars and records every problem with its
// position. schema.go declares bluegreen.yaml with it. To add a section,
// write a func(v value) that calls d.mapping(v, opt(...), req(...)) and add
// it as a field of the parent mapping.

// pos is a 1-based line and column.
type pos struct{ line, col int }

func (p pos) String() string { return fmt.Sprintf("%d:%d", p.line, p.col) }

// docStart is where problems about the whole document are reported.
var docStart = pos{1, 1}

// value is one YAML value being decoded.
type value struct {
	path string   // dotted name for messages: "blue.health.timeout", "blue.upstreams[0]"
	at   pos      // where the value was introduced: its key or list entry
	node ast.Node // with anchors, aliases and tags removed; nil or *ast.NullNode when empty
	tag  string   // explicit tag such as "!!str", "" when none
	bad  bool     // already reported (an unknown alias): decoders skip it
	// via is where an alias brought this value in; problems are reported
	// there, where the value is used, rather than at the anchor.
	via *pos
}

// pos returns the position of the value itself, or of its key when it has
// none (an empty value).
func (v value) pos() pos {
	if v.via != nil {
		return *v.via
	}
	if v.node != nil {
		if tk := v.node.GetToken(); tk != nil && tk.Position != nil && tk.Position.Line > 0 {
			return pos{tk.Position.Line, tk.Position.Column}
		}
	}
	return v.at
}

// empty reports whether the value is absent or null (`key:` or `key: ~`).
func (v value) empty() bool {
	if v.node == nil {
		return true
	}
	_, null := v.node.(*ast.NullNode)
	return null && v.tag != "!!str"
}

// child returns the path of key name inside v.
func (v value) child(name string) string {
	if v.path == "" {
		return name
	}
	return v.path + "." + name
}

// field declares one known key of a mapping and how to decode its value.
type field struct {
	name     string
	required bool
	decode   func(v value)
}

// opt declares an optional key; the target keeps its default when absent.
func opt(name string, decode func(v value)) field { return field{name: name, decode: decode} }

// req declares a required key.
func req(name string, decode func(v value)) field {
	return field{name: name, required: true, decode: decode}
}

// decoder walks one document and collects problems.
type decoder struct {
	file    string
	errs    ErrorList
	anchors map[string]ast.Node
	// seen holds the position of every decoded value by path, for checks that
	// span several fields (listeners distinct, timeout <= interval, ...).
	seen map[string]pos
	// given holds the path of every known key present in a mapping, even
	// one whose value was already reported bad, for "needs X or Y" checks.
	given map[string]bool
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, anchors: map[string]ast.Node{}, seen: map[string]pos{}, given: map[string]bool{}}
}

// errorf records a problem at p.
func (d *decoder) errorf(p pos, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: p.line, Column: p.col, Message: fmt.Sprintf(format, args...)})
}

// invalid records a problem with v's value, prefixed by its path (none for
// the document itself).
func (d *decoder) invalid(v value, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if v.path != "" {
		msg = v.path + ": " + msg
	}
	d.errorf(v.pos(), "%s", msg)
}

// failed runs decode and reports whether it recorded a problem.
func (d *decoder) failed(decode func()) bool {
	n := len(d.errs)
	decode()
	return len(d.errs) > n
}

// sorted returns the problems ordered by position (stable for equal ones).
func (d *decoder) sorted() ErrorList {
	slices.SortStableFunc(d.errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return d.errs
}

// collectAnchors records every anchor in the tree so that aliases resolve
// whatever order the schema decodes keys in.
func (d *decoder) collectAnchors(n ast.Node) {
	ast.Walk(visitFunc(func(n ast.Node) {
		if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil {
			d.anchors[a.Name.GetToken().Value] = a.Value
		}
	}), n)
}

type visitFunc func(ast.Node)

func (f visitFunc) Visit(n ast.Node) ast.Visitor { f(n); return f }

// resolve makes a value from a raw node inside parent: it follows anchors,
// aliases and tags. An unknown alias is reported and yields a bad value.
func (d *decoder) resolve(parent value, path string, at pos, n ast.Node) value {
	v := value{path: path, at: at, node: n, via: parent.via}
	for range 64 { // bounded: aliases can form cycles
		switch x := v.node.(type) {
		case *ast.AnchorNode:
			v.node = x.Value
		case *ast.TagNode:
			v.tag, v.node = x.Start.Value, x.Value
		case *ast.AliasNode:
			name := x.Value.GetToken().Value
			target, ok := d.anchors[name]
			if !ok {
				d.invalid(v, "unknown alias *%s", name)
				v.node, v.bad = nil, true
				return v
			}
			if v.via == nil {
				p := nodePos(x)
				v.via = &p
			}
			v.node = target
		default:
			return v
		}
	}
	d.invalid(v, "aliases nest too deeply")
	v.node, v.bad = nil, true
	return v
}

// mapping decodes v as a mapping whose known keys are fields, calling each
// present field's decode in declaration order. It reports unknown and
// duplicate keys, and missing required keys at v.at. An empty value counts as
// an empty mapping. Merge keys (<<: *anchor) are honoured; explicit keys win.
func (d *decoder) mapping(v value, fields ...field) {
	where := ""
	if v.path != "" {
		where = " in " + v.path
	}
	present := map[string]value{}
	ok := d.entries(v, func() string { return "a mapping with keys " + knownKeys(fields) },
		func(name string, kp pos, val func() value) {
			if !hasField(fields, name) {
				d.errorf(kp, "unknown key %q%s (known: %s)", name, where, knownKeys(fields))
				return
			}
			present[name] = val()
			d.given[v.child(name)] = true
		})
	if !ok {
		return
	}
	for _, f := range fields {
		fv, ok := present[f.name]
		switch {
		case ok && fv.bad:
			// Already reported; checks across fields that see the key
			// given still need its position.
			d.seen[fv.path] = fv.pos()
		case ok:
			d.seen[fv.path] = fv.pos()
			f.decode(fv)
		case f.required:
			d.errorf(v.at, "missing required key %q%s", f.name, where)
		}
	}
}

// dict decodes v as a mapping with free-form keys (such as environment
// variable names), calling each for every key with its position and value:
// explicit keys in file order, then keys brought in by merge keys. Duplicate
// keys are reported; want names the expected mapping for messages.
func (d *decoder) dict(v value, want string, each func(name string, kp pos, e value)) {
	d.entries(v, func() string { return want }, func(name string, kp pos, val func() value) {
		if e := val(); !e.bad {
			d.seen[e.path] = e.pos()
			each(name, kp, e)
		}
	})
}

// entries walks the key/value pairs of mapping v, explicit keys first in file
// order, then those merge keys bring in that no explicit key (or earlier
// merge source) set. It reports duplicate keys and calls each with the key,
// its position and a func resolving the value (so unwanted values are never
// resolved). It reports v not being a mapping (want says what is expected)
// and returns false then; an empty value is an empty mapping.
func (d *decoder) entries(v value, want func() string, each func(name string, kp pos, val func() value)) bool {
	var pairs []*ast.MappingValueNode
	if !v.empty() {
		m, ok := v.node.(*ast.MappingNode)
		if !ok {
			d.invalid(v, "want %s, got %s", want(), describe(v))
			return false
		}
		pairs = m.Values
	}
	where := ""
	if v.path != "" {
		where = " in " + v.path
	}
	first := map[string]pos{}
	var merged []mergedEntry
	for _, e := range pairs {
		if e.Key.IsMergeKey() {
			merged = append(merged, d.mergeEntries(d.resolve(v, v.child("<<"), v.at, e.Value), 0)...)
			continue
		}
		name, kp := e.Key.GetToken().Value, nodePos(e.Key)
		if p, dup := first[name]; dup {
			d.errorf(kp, "duplicate key %q%s (first at %s)", name, where, p)
			continue
		}
		first[name] = kp
		each(name, kp, func() value { return d.resolve(v, v.child(name), kp, e.Value) })
	}
	for _, m := range merged {
		name, kp := m.entry.Key.GetToken().Value, nodePos(m.entry.Key)
		if m.from.via != nil {
			kp = *m.from.via // report at the alias that merged it in
		}
		if _, done := first[name]; done {
			continue // an explicit key or an earlier merge source wins
		}
		first[name] = kp
		each(name, kp, func() value { return d.resolve(m.from, v.child(name), kp, m.entry.Value) })
	}
	return true
}

// mergedEntry is a key/value pair brought in by a merge key, with the value
// it came from (for positions).
type mergedEntry struct {
	entry *ast.MappingValueNode
	from  value
}

// mergeEntries returns the key/value pairs a merge key brings in: those of a
// mapping, or of each mapping in a list (earlier ones win, as YAML says).
func (d *decoder) mergeEntries(v value, depth int) []mergedEntry {
	if depth > 8 {
		d.invalid(v, "merge keys nest too deeply")
		return nil
	}
	switch n := v.node.(type) {
	case *ast.MappingNode:
		var out, nested []mergedEntry
		for _, e := range n.Values {
			if e.Key.IsMergeKey() {
				nested = append(nested, d.mergeEntries(d.resolve(v, v.path, v.at, e.Value), depth+1)...)
			} else {
				out = append(out, mergedEntry{e, v})
			}
		}
		return append(out, nested...)
	case *ast.SequenceNode:
		var out []mergedEntry
		for _, e := range n.Values {
			out = append(out, d.mergeEntries(d.resolve(v, v.path, v.at, e), depth+1)...)
		}
		return out
	}
	d.invalid(v, "want a mapping (or a list of mappings) to merge, got %s", describe(v))
	return nil
}

// list decodes v as a sequence of at least min elements, calling each with
// every element. want names what the list holds, for messages ("a list of
// host:port").
func (d *decoder) list(v value, want string, min int, each func(i int, e value)) {
	s, ok := v.node.(*ast.SequenceNode)
	switch {
	case !ok || v.empty():
		d.invalid(v, "want %s, got %s", want, describe(v))
		return
	case len(s.Values) == 0 && min > 0:
		d.invalid(v, "want %s, got an empty list", want)
		return
	case len(s.Values) < min:
		d.invalid(v, "want %s, got %d", want, len(s.Values))
		return
	}
	for i, n := range s.Values {
		e := d.resolve(v, fmt.Sprintf("%s[%d]", v.path, i), nodePos(n), n)
		if e.bad {
			continue
		}
		d.seen[e.path] = e.pos()
		each(i, e)
	}
}

func nodePos(n ast.Node) pos {
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return pos{tk.Position.Line, tk.Position.Column}
	}
	return docStart
}

func hasField(fields []field, name string) bool {
	return slices.ContainsFunc(fields, func(f field) bool { return f.name == name })
}

func knownKeys(fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

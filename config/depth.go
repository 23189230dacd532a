package config

import (
	"fmt"

	"github.com/goccy/go-yaml/token"
)

// MaxDepth is how deeply collections (mappings and lists, block or flow) may
// nest in a config file. bluegreen.yaml needs about six levels; the YAML
// parser's time and memory grow with the square of the depth (a list nested
// 50,000 deep took 9 s and 3.85 GB), so deeper files are refused before
// parsing.
const MaxDepth = 64

// MaxFileSize is the largest config file Load and Parse accept, in bytes: a
// real bluegreen.yaml is a few KiB. It bounds the work done on a file before
// its depth is known.
const MaxFileSize = 256 << 10

// level is one open block collection: the column of its entries, and whether
// it is a list (entries start with "- ") or a mapping.
type level struct {
	col int
	seq bool
}

// tooDeep scans the token stream (cheap: no nodes are built) and returns the
// position of the first token that opens a collection more than MaxDepth
// levels deep, and false when there is none. Flow collections count their
// brackets; block collections are tracked by the column of their entries,
// as the parser does.
func tooDeep(tokens token.Tokens) (pos, bool) {
	var block []level
	flow := 0
	for i, tk := range tokens {
		switch tk.Type {
		case token.DocumentHeaderType, token.DocumentEndType:
			block, flow = block[:0], 0
			continue
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
			continue
		case token.SequenceEntryType, token.MappingKeyType:
			if flow > 0 {
				continue
			}
			block = enter(block, column(tk), tk.Type == token.SequenceEntryType)
		case token.MappingValueType:
			if flow > 0 || i == 0 {
				continue
			}
			// A block mapping's entries are at their keys' column.
			block = enter(block, column(tokens[i-1]), false)
		default:
			continue
		}
		if len(block)+flow > MaxDepth {
			return tokenPos(tk), true
		}
	}
	return pos{}, false
}

// enter returns the open block collections once an entry at col (of a list
// when seq) is seen: collections indented deeper end, a list ends at a
// mapping key in its column, and an entry that is not a sibling opens a new
// collection (a list may sit in its parent mapping's column).
func enter(block []level, col int, seq bool) []level {
	for len(block) > 0 {
		top := block[len(block)-1]
		if top.col > col || top.col == col && top.seq && !seq {
			block = block[:len(block)-1]
			continue
		}
		if top.col == col && top.seq == seq {
			return block
		}
		break
	}
	return append(block, level{col, seq})
}

func column(tk *token.Token) int {
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Column
}

func tokenPos(tk *token.Token) pos {
	if tk.Position == nil || tk.Position.Line < 1 {
		return docStart
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

// depthMessage is the error for a file nested deeper than MaxDepth.
var depthMessage = fmt.Sprintf("the YAML nests lists and mappings more than %d levels deep; a bluegreen.yaml needs far fewer", MaxDepth)

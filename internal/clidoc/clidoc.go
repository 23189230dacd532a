// Package clidoc writes a cobra command tree's CLI reference (a Markdown
// file) and its man pages, so that they cannot drift from the code: the
// generator reads nothing but the tree (names, usage lines, short and long
// descriptions, flags with their defaults, examples). bluegreen's hidden
// `docs` verb calls Write with its own root command (`make docs`), and a
// test of cmd/bluegreen fails when the committed files differ.
package clidoc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// CLIFile is the CLI reference's name in the directory Write writes, and
// ManDir the man pages' directory beside it.
const (
	CLIFile = "cli.md"
	ManDir  = "man"
)

// docsMarker separates the hand-written head of cli.md (how the CLI
// finds the server, where errors go, exit codes) from the reference the
// generator writes below it. Everything up to and including this line is
// kept as it is; everything after it is replaced.
const docsMarker = "<!-- Everything below this line is generated from the commands by `make docs` " +
	"(bluegreen docs --dir docs): do not edit it by hand. -->"

// docsDefaultHead is cli.md's head when the file does not exist yet.
const docsDefaultHead = "# CLI reference\n\n" + docsMarker + "\n"

// Write writes dir/cli.md (keeping its hand-written head, the part up to
// docsMarker) and one man page per command in dir/man, removing man
// pages of commands that no longer exist.
func Write(root *cobra.Command, dir string) error {
	cmds := docCommands(root)
	head := docsDefaultHead
	old, err := os.ReadFile(filepath.Join(dir, CLIFile))
	switch {
	case err == nil:
		i := bytes.Index(old, []byte(docsMarker))
		if i < 0 {
			return fmt.Errorf("%s has no generated marker line %q: add it where the generated reference starts",
				filepath.Join(dir, CLIFile), docsMarker)
		}
		head = string(old[:i]) + docsMarker + "\n"
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, ManDir), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, CLIFile), []byte(head+docCLIMarkdown(cmds)), 0o644); err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, c := range cmds {
		name := docManName(c) + ".1"
		keep[name] = true
		if err := os.WriteFile(filepath.Join(dir, ManDir, name), []byte(docManPage(c)), 0o644); err != nil {
			return err
		}
	}
	stale, err := filepath.Glob(filepath.Join(dir, ManDir, "bluegreen*.1"))
	if err != nil {
		return err
	}
	for _, p := range stale {
		if !keep[filepath.Base(p)] {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// docCommands is the root and every command a user can run or list below it
// (not hidden, not deprecated, not help), depth first in name order.
func docCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.InitDefaultHelpFlag() // as --help does: the usage line then says [flags] wherever flags apply
		out = append(out, c)
		subs := append([]*cobra.Command(nil), c.Commands()...)
		sort.Slice(subs, func(i, j int) bool { return subs[i].Name() < subs[j].Name() })
		for _, s := range subs {
			if s.IsAvailableCommand() && !s.IsAdditionalHelpTopicCommand() {
				walk(s)
			}
		}
	}
	walk(root)
	return out
}

// docCLIMarkdown is the generated part of cli.md: an index, then each command
// with its usage line, descriptions, flags and examples.
func docCLIMarkdown(cmds []*cobra.Command) string {
	var b strings.Builder
	b.WriteString("\n## Commands\n\n")
	b.WriteString("Every command also takes `-h`, `--help`. The man pages (`man ./docs/man/bluegreen-switch.1`) " +
		"say the same.\n\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "- [%s](#%s): %s\n", c.CommandPath(), docAnchor(c.CommandPath()), docText(c.Short))
	}
	for _, c := range cmds {
		fmt.Fprintf(&b, "\n## %s\n\n", c.CommandPath())
		fmt.Fprintf(&b, "%s\n\n", docText(c.Short))
		fmt.Fprintf(&b, "```\n%s\n```\n", c.UseLine())
		if c.Long != "" {
			b.WriteString("\n")
			b.WriteString(docBlocks(c.Long))
		}
		if subs := docSubs(c); len(subs) > 0 {
			b.WriteString("\nSubcommands: ")
			for i, s := range subs {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "[%s](#%s)", s.Name(), docAnchor(s.CommandPath()))
			}
			b.WriteString(".\n")
		}
		if fl := docFlags(c.NonInheritedFlags()); len(fl) > 0 {
			b.WriteString("\n" + docFlagTable("Flags", fl))
		}
		if c.HasParent() {
			if fl := docFlags(c.InheritedFlags()); len(fl) > 0 {
				b.WriteString("\nInherited flags: ")
				for i, f := range fl {
					if i > 0 {
						b.WriteString(", ")
					}
					fmt.Fprintf(&b, "`--%s`", f.Name)
				}
				fmt.Fprintf(&b, " (see [%s](#%s)).\n", c.Root().Name(), docAnchor(c.Root().Name()))
			}
		}
		if c.Example != "" {
			fmt.Fprintf(&b, "\nExamples:\n\n```sh\n%s\n```\n", strings.Trim(c.Example, "\n"))
		}
	}
	return b.String()
}

// docSubs is c's docCommands subcommands in name order.
func docSubs(c *cobra.Command) []*cobra.Command {
	var subs []*cobra.Command
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() && !s.IsAdditionalHelpTopicCommand() {
			subs = append(subs, s)
		}
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].Name() < subs[j].Name() })
	return subs
}

// docFlags is fs's flags in name order, without -h/--help (which cobra adds
// only to the command being run, and every command takes).
func docFlags(fs *pflag.FlagSet) []*pflag.Flag {
	var out []*pflag.Flag
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !f.Hidden && f.Deprecated == "" {
			out = append(out, f)
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// docFlagSpec is how a flag is written: "-c, --config string".
func docFlagSpec(f *pflag.Flag) string {
	s := "--" + f.Name
	if f.Shorthand != "" {
		s = "-" + f.Shorthand + ", " + s
	}
	if varname, _ := pflag.UnquoteUsage(f); varname != "" {
		s += " " + varname
	}
	return s
}

// docFlagDefault is the default worth printing, "" when it is the type's zero
// value (as pflag's own usage leaves it out).
func docFlagDefault(f *pflag.Flag) string {
	switch f.DefValue {
	case "", "0", "0s", "false", "[]", "<nil>":
		return ""
	}
	return f.DefValue
}

// docFlagTable is a Markdown table of flags with their defaults.
func docFlagTable(title string, fl []*pflag.Flag) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n\n| flag | default | meaning |\n| --- | --- | --- |\n", title)
	for _, f := range fl {
		_, usage := pflag.UnquoteUsage(f)
		def := docFlagDefault(f)
		if def != "" {
			def = "`" + docCell(def) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", docCell(docFlagSpec(f)), def, docCell(docText(usage)))
	}
	return b.String()
}

// docCell escapes what would end a table cell.
func docCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// anchor is the GitHub heading anchor of a heading text made of words,
// spaces and dashes: "bluegreen token create" → "bluegreen-token-create".
func docAnchor(heading string) string {
	return strings.ReplaceAll(strings.ToLower(heading), " ", "-")
}

// docText escapes the characters of plain help text that Markdown would
// take for markup (<id> as an HTML tag, * as emphasis), outside `code`.
func docText(s string) string {
	var b strings.Builder
	code := false
	for _, r := range s {
		if r == '`' {
			code = !code
		}
		if !code && strings.ContainsRune(`\<>*`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// docBlocks renders a long description: its docParagraphs (blank-line
// separated) as text, kept line for line, and indented lines as code.
func docBlocks(long string) string {
	var b strings.Builder
	for _, para := range docParagraphs(long) {
		if docIndented(para) {
			b.WriteString("```\n")
			for _, l := range para {
				b.WriteString(strings.TrimLeft(l, " \t") + "\n")
			}
			b.WriteString("```\n\n")
			continue
		}
		for _, l := range para {
			l = docText(l)
			if strings.HasPrefix(l, "#") || strings.HasPrefix(l, "- ") || strings.HasPrefix(l, "+ ") {
				l = `\` + l
			}
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// docParagraphs splits text into runs of non-blank lines.
func docParagraphs(text string) [][]string {
	var out [][]string
	var cur []string
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if cur != nil {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, l)
	}
	if cur != nil {
		out = append(out, cur)
	}
	return out
}

// indented reports whether every line of para starts with a space or tab.
func docIndented(para []string) bool {
	for _, l := range para {
		if l[0] != ' ' && l[0] != '\t' {
			return false
		}
	}
	return true
}

// docManName is a command's man page name: "bluegreen-token-create".
func docManName(c *cobra.Command) string { return strings.ReplaceAll(c.CommandPath(), " ", "-") }

// docManPage is c's man page in roff (man(7) macros), section 1. It carries
// no date, so that it changes only when the command does.
func docManPage(c *cobra.Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %q 1 \"\" \"bluegreen\" \"bluegreen manual\"\n", strings.ToUpper(docManName(c)))
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", docRoff(docManName(c)), docRoff(c.Short))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n", docRoff(c.UseLine()))
	b.WriteString(".SH DESCRIPTION\n")
	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	for i, para := range docParagraphs(desc) {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		if docIndented(para) {
			b.WriteString(".RS\n.nf\n")
			for _, l := range para {
				b.WriteString(docRoff(strings.TrimLeft(l, " \t")) + "\n")
			}
			b.WriteString(".fi\n.RE\n")
			continue
		}
		for _, l := range para {
			b.WriteString(docRoff(l) + "\n")
		}
	}
	docManFlags(&b, "OPTIONS", docFlags(c.NonInheritedFlags()))
	if c.HasParent() {
		docManFlags(&b, "OPTIONS INHERITED FROM PARENT COMMANDS", docFlags(c.InheritedFlags()))
	}
	if c.Example != "" {
		b.WriteString(".SH EXAMPLES\n.nf\n")
		for _, l := range strings.Split(strings.Trim(c.Example, "\n"), "\n") {
			b.WriteString(docRoff(l) + "\n")
		}
		b.WriteString(".fi\n")
	}
	var see []string
	if c.HasParent() {
		see = append(see, docManName(c.Parent()))
	}
	for _, s := range docSubs(c) {
		see = append(see, docManName(s))
	}
	if len(see) > 0 {
		b.WriteString(".SH SEE ALSO\n")
		for i, s := range see {
			sep := ","
			if i == len(see)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, ".BR %s (1)%s\n", docRoff(s), sep)
		}
	}
	return b.String()
}

// docManFlags writes a section of flags, each as a tagged paragraph.
func docManFlags(b *strings.Builder, title string, fl []*pflag.Flag) {
	if len(fl) == 0 {
		return
	}
	fmt.Fprintf(b, ".SH %s\n", title)
	for _, f := range fl {
		_, usage := pflag.UnquoteUsage(f)
		fmt.Fprintf(b, ".TP\n\\fB%s\\fR\n%s", docRoff(docFlagSpec(f)), docRoff(usage))
		if def := docFlagDefault(f); def != "" {
			fmt.Fprintf(b, " (default: %s)", docRoff(def))
		}
		b.WriteString("\n")
	}
}

// roff escapes text for a roff line: backslashes, dashes (so that options
// print as hyphen-minus), and a leading dot or quote that would read as a
// request.
func docRoff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

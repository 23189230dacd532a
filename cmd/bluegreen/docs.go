package main

// The CLI reference (docs/cli.md) and the man pages (docs/man/) are written
// from the command tree itself by internal/clidoc: `make docs` runs
// `bluegreen docs --dir docs`, and TestDocsUpToDate fails when the
// committed files differ from what the commands say now.

import (
	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/clidoc"
)

// newDocsCmd is the hidden `docs` verb: it writes DIR/cli.md and the man
// pages DIR/man/*.1 from the command tree it is part of. It needs nothing
// from the other verbs but that tree; a missing --dir is the domain's
// invalid-input error (exit 2).
func newDocsCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "docs --dir DIR",
		Short:  "Write the CLI reference (DIR/cli.md) and man pages (DIR/man) from the commands",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return bluegreen.Errorf(bluegreen.EINVALID, "docs needs --dir DIR")
			}
			return clidoc.Write(cmd.Root(), dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the docs directory: cli.md is rewritten below its generated marker, man/ is replaced")
	return cmd
}

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen/config"
)

func newInitCmd(g *globals) *cobra.Command {
	var print bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented example configuration to --config (never overwrites)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if print {
				_, err := fmt.Fprint(g.stdout, config.Example())
				return err
			}
			f, err := os.OpenFile(g.configPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s exists; not overwriting it (use --print to see the example)", g.configPath)
			}
			if err != nil {
				return err
			}
			if _, err := f.WriteString(config.Example()); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote %s; edit the upstreams, then run: bluegreen serve\n", g.configPath)
			return nil
		},
	}
	cmd.Flags().BoolVar(&print, "print", false, "print the example instead of writing it")
	return cmd
}

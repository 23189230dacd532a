package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/config"
)

// Exit codes, documented in docs/cli.md.
const (
	exitOK      = 0
	exitFailed  = 1 // refused or failed
	exitUsage   = 2 // usage or configuration error
	exitTimeout = 3 // --timeout passed before the operation ended
)

// exitError carries an exit code up to run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf returns a usage error: the domain's invalid-input error
// (EINVALID), which exits with exitUsage. %w is not supported.
func usageErrorf(format string, args ...any) error {
	return bluegreen.Errorf(bluegreen.EINVALID, format, args...)
}

// oneColor is the positional-argument rule of a verb that takes one color:
// its error (a usage error) says what is missing.
func oneColor(verb string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageErrorf("%s takes one color, blue or green (%d arguments given)", verb, len(args))
		}
		return nil
	}
}

// defaultConfigPath is --config's default.
const defaultConfigPath = "bluegreen.yaml"

// globals are the flags every verb shares.
type globals struct {
	configPath string
	server     string
	token      string
	caFile     string
	output     string
	stdout     io.Writer
	stderr     io.Writer
}

func (g *globals) json() bool { return g.output == "json" }

// run is the whole program; main only adds the process around it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "bluegreen",
		Short: "Blue-green deployments with zero dropped requests",
		Long: "bluegreen runs two colors of an app, blue and green, behind its own router.\n" +
			"`bluegreen serve` runs the router, the controller and the API; the other verbs talk to that API.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.output != "text" && g.output != "json" {
				return usageErrorf("--output %q: want text or json", g.output)
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.SetContext(ctx)
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configPath, "config", "c", defaultConfigPath, "configuration file")
	pf.StringVar(&g.server, "server", "", "API address (env BLUEGREEN_SERVER; default: the config's api address)")
	pf.StringVar(&g.token, "token", "", "API token (env BLUEGREEN_TOKEN; default: the token file in the config's state directory)")
	pf.StringVar(&g.caFile, "ca-file", "", "PEM file of the CA that signed the API's TLS certificate (env BLUEGREEN_CA_FILE; default: the system's)")
	pf.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &bluegreen.Error{Code: bluegreen.EINVALID, Message: err.Error()}
	})

	root.AddCommand(
		newServeCmd(g), newStatusCmd(g), newColorCmd(g), newSwitchCmd(g), newRollbackCmd(g),
		newHistoryCmd(g), newDemoCmd(g), newInitCmd(g), newVersionCmd(g), newSampleAppCmd(g), newLockCmd(g),
		newDeployCmd(g), newSyncCmd(g), newSuperviseCmd(g), newDeploymentsCmd(g), newLogsCmd(g),
		newVerifyCmd(g), newApproveCmd(g), newTokenCmd(g), newDNSCmd(g), newHandOverCmd(g), newStateCmd(g),
	)
	root.AddCommand(newAgentCmd(g))
	root.AddCommand(newDocsCmd()) // hidden: writes docs/cli.md and docs/man (make docs)

	err := root.Execute()
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	printError(stdout, stderr, g.json() || wantsJSON(args), code, err)
	return code
}

// printError prints the error a verb ended with, once, in the one place the
// CLI reference (docs/cli.md) names: with JSON output, as the object
// {"error":{"code","message"}} on stdout (where a script reads the rest of
// the output) and nothing on stderr; otherwise as one line
// "bluegreen: <message>" on stderr.
func printError(stdout, stderr io.Writer, asJSON bool, code int, err error) {
	if !asJSON {
		fmt.Fprintln(stderr, "bluegreen: "+errText(err))
		return
	}
	errCode := bluegreen.ErrorCode(err)
	if code == exitUsage && errCode == bluegreen.EINTERNAL {
		errCode = bluegreen.EINVALID // a usage error of the CLI's own
	}
	_ = writeJSON(stdout, map[string]any{"error": map[string]string{
		"code": errCode, "message": errText(err)}})
}

// wantsJSON reports whether args ask for JSON (-o json, --output=json,
// history's --json) even where parsing stopped before reaching them: an
// error must come out in the format the caller reads.
func wantsJSON(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--json" || a == "--json=true" || a == "--output=json" || a == "-ojson" || a == "-o=json":
			return true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

// errText is what the user reads: the domain message when there is one,
// else the whole chain.
func errText(err error) string {
	var ee *exitError
	if errors.As(err, &ee) {
		err = ee.err
	}
	var cerr *config.Error
	if errors.As(err, &cerr) {
		return err.Error()
	}
	return strings.TrimSpace(err.Error())
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var cerr *config.Error
	if errors.As(err, &cerr) {
		return exitUsage
	}
	switch bluegreen.ErrorCode(err) {
	case bluegreen.EINVALID:
		return exitUsage
	}
	if strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") {
		return exitUsage
	}
	return exitFailed
}

// version is set by the linker (-ldflags "-X main.version=...").
var version = "dev"

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.json() {
				return writeJSON(g.stdout, map[string]string{"version": version})
			}
			fmt.Fprintln(g.stdout, "bluegreen", version)
			return nil
		},
	}
}

func getenv(k string) string { return os.Getenv(k) }

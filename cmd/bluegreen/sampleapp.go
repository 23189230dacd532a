package main

import (
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/bluegreen/bluegreen/internal/demo"
)

// newSampleAppCmd is a tiny app to put behind bluegreen: the demo, the tests
// and people trying bluegreen out use it as one color's release.
func newSampleAppCmd(g *globals) *cobra.Command {
	var (
		color, listen, version string
		failEvery              int
	)
	cmd := &cobra.Command{
		Use:   "sample-app",
		Short: "Run a tiny HTTP app to put behind bluegreen (for trying it out)",
		Long: "sample-app serves: / (JSON with its color and version), /healthz, /slow?ms=N (answers after N ms),\n" +
			"/sse?n=N (N server-sent events, one per 100ms), /ws (WebSocket echo). $PORT is used when --listen is empty.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if listen == "" {
				port := os.Getenv("PORT")
				if port == "" {
					return usageErrorf("sample-app needs --listen or $PORT")
				}
				listen = "127.0.0.1:" + port
			}
			if color == "" {
				color = os.Getenv("BLUEGREEN_COLOR")
			}
			if color == "" {
				return usageErrorf("sample-app needs --color or $BLUEGREEN_COLOR (blue, green, or any label to tell upstreams apart)")
			}
			if _, _, err := net.SplitHostPort(listen); err != nil {
				return usageErrorf("sample-app --listen %q: want host:port (%v)", listen, err)
			}
			return demo.ServeSampleApp(cmd.Context(), listen, color, version, failEvery, g.stdout)
		},
	}
	cmd.Flags().StringVar(&color, "color", "", "the color it reports, or any label (default $BLUEGREEN_COLOR)")
	cmd.Flags().StringVar(&listen, "listen", "", "host:port to listen on (default 127.0.0.1:$PORT)")
	cmd.Flags().StringVar(&version, "version", "1.0", "the version it reports")
	cmd.Flags().IntVar(&failEvery, "fail-every", 0, "answer every Nth request to / with 500 (a bad release whose health check passes); 0 never")
	return cmd
}

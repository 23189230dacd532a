package controller

import (
	"context"
	"io"

	"github.com/bluegreen/bluegreen"
)

// HostInfo implements api.Service: the color whose hosts list host (by its
// health checker's last round, which lists each host of a color with
// `hosts:`, or the configured agent hosts), the host's address and last
// probe, the color's current release from the committed state, and the
// order of a deployment in progress for host, if any. It only
// reads. It fails with ENOTFOUND when no color lists host (a color of hosts
// without agents is known once its first health round has run).
func (c *Controller) HostInfo(_ context.Context, host string) (bluegreen.HostInfo, error) {
	st := c.State()
	for _, col := range bluegreen.Colors {
		h, ok := c.hostOf(col, host)
		if !ok {
			continue
		}
		hi := bluegreen.HostInfo{Name: host, Color: col, Address: h.Address, Health: h}
		if rel := st.Colors[col].Release; rel != nil {
			r := *rel
			hi.Release = &r
		}
		hi.Order = c.fleet.order(host)
		return hi, nil
	}
	return bluegreen.HostInfo{}, bluegreen.Errorf(bluegreen.ENOTFOUND, "no color lists host %q", host)
}

// hostOf finds host among col's hosts: those the health checker's last
// round probed, or, before it has, the agent hosts of the configuration
// (with no probe yet).
func (c *Controller) hostOf(col bluegreen.Color, host string) (bluegreen.HostHealth, bool) {
	for _, h := range c.health.Health(col).Hosts {
		if h.Name == host {
			return h, true
		}
	}
	for _, h := range c.deployCfg.hostsOf(col) {
		if h.Name == host {
			return bluegreen.HostHealth{Name: host, Address: h.Address}, true
		}
	}
	return bluegreen.HostHealth{}, false
}

// ReleaseArchive implements api.Service: it writes to w a tar archive of
// the tree of the commit sha, for the agent of host to run. Only a release
// the host may run is served: the current release of the color whose hosts
// list host, or the release a deployment in progress orders host to run. It fails
// before writing anything with ENOTFOUND when serve has no repository (no
// `app:` section), when no color lists host, or when sha is not that
// color's release; an error after the first write comes from the Source
// or from w. It only reads the state.
func (c *Controller) ReleaseArchive(ctx context.Context, host, sha string, w io.Writer) error {
	if c.deployCfg == nil || c.deployCfg.Source == nil {
		return bluegreen.Errorf(bluegreen.ENOTFOUND, "serve has no repository configured (no app: section), so it has no release to give host %q", host)
	}
	hi, err := c.HostInfo(ctx, host)
	if err != nil {
		return err
	}
	ordered := c.fleet.order(host)
	if (hi.Release == nil || hi.Release.SHA != sha) && (ordered == nil || ordered.SHA != sha) {
		return bluegreen.Errorf(bluegreen.ENOTFOUND, "host %s's color has no release %s (nor does a deployment order the host to run it)", host, sha)
	}
	return c.deployCfg.Source.Archive(ctx, sha, w)
}

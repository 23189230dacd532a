package controller

import (
	"context"

	"github.com/bluegreen/bluegreen"
)

// HostInfo implements api.Service: the color whose hosts list host (by its
// health checker's last round, which lists each host of a color with
// `hosts:`), the host's address and last probe, and the color's current
// release from the committed state. It only reads. It fails with ENOTFOUND
// when no color lists host (a color's hosts are known once its first health
// round has run).
func (c *Controller) HostInfo(_ context.Context, host string) (bluegreen.HostInfo, error) {
	st := c.State()
	for _, col := range bluegreen.Colors {
		for _, h := range c.health.Health(col).Hosts {
			if h.Name != host {
				continue
			}
			hi := bluegreen.HostInfo{Name: host, Color: col, Address: h.Address, Health: h}
			if rel := st.Colors[col].Release; rel != nil {
				r := *rel
				hi.Release = &r
			}
			return hi, nil
		}
	}
	return bluegreen.HostInfo{}, bluegreen.Errorf(bluegreen.ENOTFOUND, "no color lists host %q", host)
}

package cloud

import (
	"github.com/libdns/cloudflare"

	"github.com/bluegreen/bluegreen"
)

// CloudflareConfig are the settings of the Cloudflare provider.
type CloudflareConfig struct {
	// APIToken is a scoped API token (not the global API key) with
	// Zone.DNS:Edit on the zone, and Zone:Read unless ZoneToken is set.
	APIToken bluegreen.Secret `json:"api_token"`
	// ZoneToken is an optional separate token with Zone:Read on all zones,
	// for when APIToken is scoped to the one zone.
	ZoneToken bluegreen.Secret `json:"zone_token,omitempty"`
}

// NewCloudflare checks cfg and returns the Cloudflare API (libdns
// cloudflare) as a dns.RRsetAPI: wrap it with dns.ReadCompareWrite. It
// returns an EINVALID *bluegreen.Error when the API token is missing or
// malformed, and trims the whitespace around tokens. It does not contact
// Cloudflare. Untested against the real API (no network here).
func NewCloudflare(cfg CloudflareConfig) (*Provider, error) {
	api, err := cleanToken("cloudflare", "api_token", cfg.APIToken, "want a Cloudflare API token with Zone.DNS:Edit (from an env var or a file)")
	if err != nil {
		return nil, err
	}
	zone := ""
	if cfg.ZoneToken != "" {
		if zone, err = cleanToken("cloudflare", "zone_token", cfg.ZoneToken, ""); err != nil {
			return nil, err
		}
	}
	return New("cloudflare", &cloudflare.Provider{APIToken: api, ZoneToken: zone}), nil
}

package daemon

import (
	"context"
	"os"
	"strings"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/controller"
	"github.com/bluegreen/bluegreen/dns"
	"github.com/bluegreen/bluegreen/dns/cloud"
)

// readSecret reads a secret from where the config says it is.
func readSecret(cfg *config.Config, key string, s config.Secret) (string, error) {
	if s.Env != "" {
		v := strings.TrimSpace(os.Getenv(s.Env))
		if v == "" {
			return "", invalidf("%s: %s: the environment variable %s that holds the secret is not set", cfg.File, key, s.Env)
		}
		return v, nil
	}
	b, err := os.ReadFile(s.File)
	if err != nil {
		return "", invalidf("%s: %s: reading the secret: %v", cfg.File, key, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", invalidf("%s: %s: %s is empty", cfg.File, key, s.File)
	}
	return v, nil
}

// dnsSwitcher builds the DNS switcher of switch_mode dns or both; nil in
// router mode.
func dnsSwitcher(ctx context.Context, cfg *config.Config) (controller.DNSSwitcher, error) {
	c := cfg.DNS
	if cfg.SwitchMode == config.SwitchRouter || c == nil {
		return nil, nil
	}
	var p dns.Provider
	switch c.Provider {
	case "rfc2136":
		secret, err := readSecret(cfg, "dns.rfc2136.key_secret", c.RFC2136.KeySecret)
		if err != nil {
			return nil, err
		}
		r, err := dns.NewRFC2136(dns.RFC2136Config{Server: c.RFC2136.Server,
			Key: dns.TSIGKey{Name: c.RFC2136.KeyName, Algorithm: c.RFC2136.KeyAlgorithm, Secret: bluegreen.Secret(secret)}})
		if err != nil {
			return nil, invalidf("%s: dns.rfc2136: %v", cfg.File, err)
		}
		p = r
	case "cloudflare":
		tok, err := readSecret(cfg, "dns.cloudflare.api_token", c.Cloudflare.APIToken)
		if err != nil {
			return nil, err
		}
		api, err := cloud.NewCloudflare(cloud.CloudflareConfig{APIToken: bluegreen.Secret(tok)})
		if err != nil {
			return nil, invalidf("%s: dns.cloudflare: %v", cfg.File, err)
		}
		p = dns.ReadCompareWrite(api)
	case "route53":
		api, err := cloud.NewRoute53(ctx, cloud.Route53Config{Region: c.Route53.Region, Profile: c.Route53.Profile,
			HostedZoneID: c.Route53.HostedZoneID})
		if err != nil {
			return nil, invalidf("%s: dns.route53: %v", cfg.File, err)
		}
		p = dns.ReadCompareWrite(api)
	default:
		return nil, invalidf("%s: dns.provider %q is not known", cfg.File, c.Provider)
	}
	sw, err := dns.New(dns.Config{
		Record:   dns.Record{Zone: c.Zone, Name: c.Record, Type: c.Type, TTL: c.TTL, Values: c.Values},
		Provider: p, Servers: c.Servers, PropagationTimeout: c.PropagationTimeout, DrainMargin: c.DrainMargin,
	})
	if err != nil {
		return nil, invalidf("%s: dns: %v", cfg.File, err)
	}
	return sw.Domain(), nil
}

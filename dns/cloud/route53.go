package cloud

import (
	"context"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/libdns/route53"

	"github.com/bluegreen/bluegreen"
)

// DefaultRoute53Region is the region used when neither the settings, the
// environment (AWS_REGION) nor the AWS profile name one: Route53 is a
// global service served from there.
const DefaultRoute53Region = "us-east-1"

// Route53Config are the settings of the Route53 provider. Credentials come
// from the usual AWS chain (environment, shared config and credentials files,
// instance role) unless AccessKeyID and SecretAccessKey are set.
type Route53Config struct {
	// Region is optional; see DefaultRoute53Region.
	Region string `json:"region,omitempty"`
	// Profile is an optional AWS shared-config profile name.
	Profile string `json:"profile,omitempty"`
	// HostedZoneID is the hosted zone's id (e.g. "Z0123456789ABC"); when
	// empty, the zone is found by name (needs route53:ListHostedZonesByName).
	HostedZoneID string `json:"hosted_zone_id,omitempty"`
	// AccessKeyID and SecretAccessKey (and SessionToken for temporary
	// credentials) are static credentials, both or neither.
	AccessKeyID     string           `json:"access_key_id,omitempty"`
	SecretAccessKey bluegreen.Secret `json:"secret_access_key,omitempty"`
	SessionToken    bluegreen.Secret `json:"session_token,omitempty"`
}

var hostedZoneID = regexp.MustCompile(`^[A-Z0-9]{1,32}$`)

// NewRoute53 checks cfg and returns the Route53 API (libdns route53) as a
// dns.RRsetAPI: wrap it with dns.ReadCompareWrite. It loads the AWS
// configuration once here (local files and environment only, no network),
// so that a missing profile is an EINVALID error now rather than at the
// first switch (libdns route53 would end the whole process on it). Other
// problems are EINVALID too: half of a static key pair, a malformed hosted
// zone id. Untested against the real API (no network here).
func NewRoute53(ctx context.Context, cfg Route53Config) (*Provider, error) {
	if cfg.HostedZoneID != "" {
		id := strings.TrimPrefix(cfg.HostedZoneID, "/hostedzone/")
		if !hostedZoneID.MatchString(id) {
			return nil, bluegreen.Errorf(bluegreen.EINVALID, "route53: hosted_zone_id %q is not a hosted zone id (want upper-case letters and digits, e.g. \"Z0123456789ABC\")", cfg.HostedZoneID)
		}
		cfg.HostedZoneID = id
	}
	secret := strings.TrimSpace(cfg.SecretAccessKey.Reveal())
	switch {
	case cfg.AccessKeyID != "" && secret == "":
		return nil, errMissing("route53", "secret_access_key", "access_key_id is set, so the secret key must be too")
	case cfg.AccessKeyID == "" && secret != "":
		return nil, errMissing("route53", "access_key_id", "secret_access_key is set, so the key id must be too")
	case cfg.AccessKeyID == "" && cfg.SessionToken != "":
		return nil, errMissing("route53", "access_key_id", "a session_token goes with access_key_id and secret_access_key")
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, secret, strings.TrimSpace(cfg.SessionToken.Reveal()))))
	}
	aws, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "route53: loading the AWS configuration: %v", err)
	}
	region := cfg.Region
	if region == "" {
		region = aws.Region
	}
	if region == "" {
		region = DefaultRoute53Region
	}
	return New("route53", &route53.Provider{
		Region:          region,
		Profile:         cfg.Profile,
		AccessKeyId:     cfg.AccessKeyID,
		SecretAccessKey: secret,
		SessionToken:    strings.TrimSpace(cfg.SessionToken.Reveal()),
		HostedZoneID:    cfg.HostedZoneID,
	}), nil
}

package dns

import (
	"encoding/base64"
	"fmt"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/bluegreen/bluegreen"
)

// TSIGKey is a TSIG key (RFC 8945) as declared in BIND's key statement:
//
//	key "bluegreen-key." { algorithm hmac-sha256; secret "<base64>"; };
type TSIGKey struct {
	// Name is the key's name, e.g. "bluegreen-key." (trailing dot optional,
	// case does not matter).
	Name string `json:"name"`
	// Algorithm is hmac-sha256 (the default when empty), hmac-sha512,
	// hmac-sha384, hmac-sha224 or hmac-sha1.
	Algorithm string `json:"algorithm,omitempty"`
	// Secret is the key's secret, base64 as in BIND's key statement. The
	// caller reads it from wherever it is kept (an env var, a file).
	Secret bluegreen.Secret `json:"secret"`
}

// String names the key and its algorithm, never the secret.
func (k TSIGKey) String() string {
	return fmt.Sprintf("TSIG key %s (%s)", canonicalName(k.Name), strings.TrimSuffix(k.algorithm(), "."))
}

// algorithms maps the accepted spellings to miekg's algorithm names.
var algorithms = map[string]string{
	"hmac-sha1":   mdns.HmacSHA1,
	"hmac-sha224": mdns.HmacSHA224,
	"hmac-sha256": mdns.HmacSHA256,
	"hmac-sha384": mdns.HmacSHA384,
	"hmac-sha512": mdns.HmacSHA512,
}

func (k TSIGKey) algorithm() string {
	a := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(k.Algorithm)), ".")
	if a == "" {
		a = "hmac-sha256"
	}
	if m, ok := algorithms[a]; ok {
		return m
	}
	return a
}

// Validate checks the key without revealing the secret: a domain name, a
// known algorithm, a non-empty base64 secret. It returns an EINVALID
// *bluegreen.Error.
func (k TSIGKey) Validate() error {
	name := canonicalName(k.Name)
	if _, ok := mdns.IsDomainName(name); !ok || name == "" || name == "." {
		return bluegreen.Errorf(bluegreen.EINVALID, "dns: TSIG key name %q is not a domain name (want the name of BIND's key statement, e.g. \"bluegreen-key.\")", k.Name)
	}
	if _, ok := algorithms[strings.TrimSuffix(k.algorithm(), ".")]; !ok {
		return bluegreen.Errorf(bluegreen.EINVALID, "dns: TSIG key %s: algorithm %q is not supported: want hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224 or hmac-sha1", name, k.Algorithm)
	}
	if k.Secret == "" {
		return bluegreen.Errorf(bluegreen.EINVALID, "dns: TSIG key %s has no secret", name)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k.Secret.Reveal()))
	if err != nil {
		// The decoder's error holds only an offset, never the input.
		return bluegreen.Errorf(bluegreen.EINVALID, "dns: TSIG key %s: the secret is not valid base64 (%v); want the secret of BIND's key statement, e.g. from tsig-keygen", name, err)
	}
	if len(raw) == 0 {
		return bluegreen.Errorf(bluegreen.EINVALID, "dns: TSIG key %s has an empty secret", name)
	}
	return nil
}

// signer is a validated key in the form miekg wants.
type signer struct {
	name, alg, secret string
}

func (k TSIGKey) signer() *signer {
	return &signer{name: canonicalName(k.Name), alg: k.algorithm(), secret: strings.TrimSpace(k.Secret.Reveal())}
}

// sign adds the TSIG record to m and sets c to verify the answer.
func (s *signer) sign(c *mdns.Client, m *mdns.Msg, now int64) {
	m.SetTsig(s.name, s.alg, 300, now)
	c.TsigSecret = map[string]string{s.name: s.secret}
}

// String never shows the secret.
func (s *signer) String() string { return "TSIG key " + s.name }

package config

import (
	"crypto/tls"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// TLS is the `api_tls:` section: the API is served over HTTPS with this
// certificate and key (PEM files).
type TLS struct {
	// Cert and Key are absolute paths (relative ones are resolved against
	// the config file's directory).
	Cert, Key string
}

// Webhook is one entry of `webhooks:`.
type Webhook struct {
	// Name identifies it in the history.
	Name string
	// URL is the receiver's address. It is a secret (a Slack webhook URL
	// is a credential): it comes from the environment variable URLEnv or
	// the file URLFile when those are given, read when serve starts.
	URL, URLEnv, URLFile string
	// Format is "json" (default) or "slack".
	Format string
	// On lists the kinds of events sent (deploy, verify, switch, rollback,
	// failure); empty means all.
	On []string
	// Timeout bounds one attempt; Retries is how many more attempts a
	// failed delivery gets.
	Timeout time.Duration
	Retries int
	// Headers are extra request headers (their values may be secrets too).
	Headers []Header
}

// webhookKinds are the values `on:` accepts.
var webhookKinds = map[string]bool{"deploy": true, "verify": true, "switch": true, "rollback": true, "failure": true}

// apiTLS decodes `api_tls:`.
func (d *decoder) apiTLS(v value, t *TLS) {
	d.mapping(v, req("cert", d.pemFile(&t.Cert)), req("key", d.pemFile(&t.Key)))
	if t.Cert != "" && t.Key != "" {
		if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
			d.errorf(d.seen[v.child("cert")], "%s: the certificate and key do not load as a TLS key pair: %v", v.path, err)
		}
	}
}

// webhooks decodes `webhooks:`.
func (d *decoder) webhooks(v value, dst *[]Webhook) {
	if v.empty() {
		return
	}
	names := map[string]pos{}
	d.list(v, "a list of webhooks (each with a name and url, url_env or url_file)", 0, func(_ int, e value) {
		w := Webhook{Format: "json", Timeout: 5 * time.Second, Retries: 2}
		d.mapping(e,
			req("name", func(v value) {
				s, ok := d.str(v, "a webhook name")
				switch {
				case ok && !checkName.MatchString(s):
					d.invalid(v, "%q is not a name (want letters, digits, '.', '_' or '-')", s)
				case ok && names[s] != (pos{}):
					d.invalid(v, "%q is also the name of the webhook at %s", s, names[s])
				case ok:
					w.Name, names[s] = s, v.pos()
				}
			}),
			opt("url", func(v value) {
				s, ok := d.str(v, "an http(s) URL")
				if ok && !httpURL(s) {
					d.invalid(v, "is not an http or https URL with a host")
				} else if ok {
					w.URL = s
				}
			}),
			opt("url_env", func(v value) {
				s, ok := d.str(v, "an environment variable name")
				if ok && !envName.MatchString(s) {
					d.invalid(v, "%q is not an environment variable name", s)
				} else if ok {
					w.URLEnv = s
				}
			}),
			opt("url_file", func(v value) {
				s, ok := d.str(v, "a file path")
				if ok && strings.TrimSpace(s) == "" {
					d.invalid(v, "must not be empty")
				} else if ok {
					if !filepath.IsAbs(s) && d.file != "" {
						s = filepath.Join(filepath.Dir(d.file), s)
					}
					w.URLFile = s
				}
			}),
			opt("format", func(v value) {
				s, ok := d.str(v, "json or slack")
				if ok && s != "json" && s != "slack" {
					d.invalid(v, "unknown format %q (want json or slack)", s)
				} else if ok {
					w.Format = s
				}
			}),
			opt("on", func(v value) {
				d.list(v, "a list of event kinds (deploy, verify, switch, rollback, failure)", 1, func(_ int, e value) {
					s, ok := d.str(e, "an event kind")
					if ok && !webhookKinds[s] {
						d.invalid(e, "unknown event kind %q (want deploy, verify, switch, rollback or failure)", s)
					} else if ok {
						w.On = append(w.On, s)
					}
				})
			}),
			opt("timeout", func(v value) { d.duration(v, &w.Timeout) }),
			opt("retries", func(v value) { d.integer(v, 0, 10, &w.Retries) }),
			opt("headers", func(v value) { d.headers(v, &w.Headers) }),
		)
		n := 0
		for _, k := range []string{"url", "url_env", "url_file"} {
			if d.given[e.child(k)] {
				n++
			}
		}
		if n != 1 {
			d.errorf(e.at, "%s: a webhook needs exactly one of url, url_env (recommended: the URL is a secret) or url_file", e.path)
		}
		*dst = append(*dst, w)
	})
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

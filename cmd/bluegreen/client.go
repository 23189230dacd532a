package main

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/config"
	"github.com/bluegreen/bluegreen/daemon"
	"github.com/bluegreen/bluegreen/internal/ghactions"
)

// client builds the API client from flags, environment and, for what is
// still missing, the configuration file (its api address and token file).
func (g *globals) client() (*api.Client, error) { return g.newClient(true) }

// anonClient is client for the routes that need no token (the live
// color): without one, from anywhere, it goes without.
func (g *globals) anonClient() (*api.Client, error) { return g.newClient(false) }

func (g *globals) newClient(needToken bool) (*api.Client, error) {
	server := cmp.Or(g.server, getenv("BLUEGREEN_SERVER"))
	token := cmp.Or(g.token, getenv("BLUEGREEN_TOKEN"))
	if server == "" || token == "" {
		g.warnConfigMode()
		cfg, err := config.Load(g.configPath)
		switch {
		case err != nil && server != "" && !needToken:
			// The server is known and the token optional: no config needed.
		case errors.Is(err, fs.ErrNotExist) && g.configPath != defaultConfigPath:
			return nil, usageErrorf("the configuration file %s does not exist: pass --server and --token (or set BLUEGREEN_SERVER and BLUEGREEN_TOKEN), or a --config that does", g.configPath)
		case errors.Is(err, fs.ErrNotExist):
			return nil, usageErrorf("no server to talk to: pass --server and --token (or set BLUEGREEN_SERVER and BLUEGREEN_TOKEN), or run where %s is", g.configPath)
		case err != nil:
			return nil, err
		default:
			if server == "" {
				server = daemon.APIScheme(cfg) + "://" + dialable(cfg.API)
			}
			if token == "" {
				t, err := daemon.ReadToken(cfg)
				if err != nil && needToken {
					return nil, usageErrorf("no API token: pass --token or set BLUEGREEN_TOKEN (%v)", err)
				}
				token = t
			}
		}
	}
	caFile := cmp.Or(g.caFile, getenv("BLUEGREEN_CA_FILE"))
	if caFile != "" {
		// A CA file means TLS: never send the token in clear to a server
		// given without a scheme.
		if strings.HasPrefix(server, "http://") {
			return nil, usageErrorf("--ca-file is for an https:// server, but the server is %s: the token would travel in clear", server)
		}
		if !strings.Contains(server, "://") {
			server = "https://" + server
		}
	}
	c := api.NewClient(server, token, actor())
	c.RunURL = ghactions.RunURL(getenv)
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, usageErrorf("--ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--ca-file %s: no PEM certificate in it", caFile)
		}
		c.HTTP = &http.Client{Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 10 * time.Second, IdleConnTimeout: 30 * time.Second}}
	}
	return c, nil
}

// dialable turns a listen address such as ":8082" into one a client can dial.
func dialable(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	if h, p, ok := strings.Cut(addr, ":"); ok && (h == "0.0.0.0" || h == "[::]") {
		return "127.0.0.1:" + p
	}
	return addr
}

// actor is who the history records for this CLI call: BLUEGREEN_ACTOR, or a
// GitHub Actions run, or user@host.
func actor() string {
	if a := getenv("BLUEGREEN_ACTOR"); a != "" {
		return a
	}
	if a := ghactions.Actor(getenv); a != "" {
		return a
	}
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host == "" {
		return name
	}
	return name + "@" + host
}

package main

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/bluegreen/bluegreen/api"
	"github.com/bluegreen/bluegreen/config"
)

// tokenFileName is the API token's file in the state directory.
const tokenFileName = "api-token"

// client builds the API client from flags, environment and, for what is
// still missing, the configuration file (its api address and token file).
func (g *globals) client() (*api.Client, error) {
	server := firstNonEmpty(g.server, getenv("BLUEGREEN_SERVER"))
	token := firstNonEmpty(g.token, getenv("BLUEGREEN_TOKEN"))
	if server == "" || token == "" {
		cfg, err := config.Load(g.configPath)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, usageErrorf("no server to talk to: pass --server and --token (or set BLUEGREEN_SERVER and BLUEGREEN_TOKEN), or run where %s is", g.configPath)
			}
			return nil, err
		}
		if server == "" {
			server = dialable(cfg.API)
		}
		if token == "" {
			b, err := os.ReadFile(filepath.Join(cfg.StateDir, tokenFileName))
			if err != nil {
				return nil, usageErrorf("no API token: pass --token or set BLUEGREEN_TOKEN (reading the token file: %v)", err)
			}
			token = strings.TrimSpace(string(b))
		}
	}
	return api.NewClient(server, token, actor()), nil
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
	if getenv("GITHUB_ACTIONS") == "true" && getenv("GITHUB_ACTOR") != "" {
		a := "github:" + getenv("GITHUB_ACTOR")
		if id := getenv("GITHUB_RUN_ID"); id != "" {
			a += " run " + id
		}
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

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

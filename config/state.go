package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// This file decodes where the state lives: `state:` (a directory for
// SQLite, or an etcd URL), `state_tls:`, `state_auth:` and `data_dir:`, and `cluster:`.

// EtcdScheme begins a `state:` value that names an etcd cluster.
const EtcdScheme = "etcd://"

// DefaultEtcdPrefix is the key prefix when an etcd URL names none.
const DefaultEtcdPrefix = "/bluegreen/"

// Etcd says how to reach the etcd cluster that holds the state (`state:`
// as an etcd URL, with `state_tls:` and `state_auth:`).
type Etcd struct {
	// Endpoints are host:port client addresses, in the URL's order (at
	// least one).
	Endpoints []string
	// Prefix is the key prefix, beginning and ending with "/".
	Prefix string
	// CA, Cert and Key are absolute PEM file paths from `state_tls:`; all
	// empty when the cluster is reached without TLS. CA is the cluster's CA
	// (empty: the system's roots); Cert and Key are a client certificate,
	// both set or both empty.
	CA, Cert, Key string
	// AuthFile is the absolute path of `state_auth:`, a file holding one
	// line "username:password" for etcd authentication; "" for none. It is
	// read with ReadEtcdAuth when the store is opened, so that the password
	// is not kept in the Config.
	AuthFile string
}

// TLS reports whether the cluster is reached over TLS.
func (e *Etcd) TLS() bool { return e.CA != "" || e.Cert != "" }

// String returns the URL the Etcd was parsed from (without credentials).
func (e *Etcd) String() string {
	return EtcdScheme + strings.Join(e.Endpoints, ",") + strings.TrimSuffix(e.Prefix, "/")
}

// IsEtcdURL reports whether s is meant as an etcd URL (begins with
// "etcd://"), valid or not.
func IsEtcdURL(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), EtcdScheme) }

// ParseEtcdURL parses "etcd://host:port[,host:port...][/prefix]" into an
// Etcd without TLS or authentication. The prefix defaults to
// DefaultEtcdPrefix and gets a leading and trailing "/". The error says
// what is wrong with the URL, without a position.
func ParseEtcdURL(s string) (*Etcd, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), EtcdScheme)
	if !ok {
		return nil, fmt.Errorf("%q is not an etcd URL (want etcd://host:port[,host:port...]/prefix)", s)
	}
	hosts, prefix, _ := strings.Cut(rest, "/")
	if hosts == "" {
		return nil, fmt.Errorf("%q names no endpoint (want etcd://host:port[,host:port...]/prefix)", s)
	}
	e := &Etcd{Prefix: DefaultEtcdPrefix}
	seen := map[string]bool{}
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return nil, fmt.Errorf("endpoint %q of %q is not host:port", h, s)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("endpoint %q of %q: the port must be 1..65535", h, s)
		}
		if seen[h] {
			return nil, fmt.Errorf("endpoint %q is listed twice in %q", h, s)
		}
		seen[h] = true
		e.Endpoints = append(e.Endpoints, h)
	}
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		if strings.ContainsAny(prefix, " \t\n?#") {
			return nil, fmt.Errorf("the key prefix %q of %q holds a space, '?' or '#'", prefix, s)
		}
		e.Prefix = "/" + prefix + "/"
	}
	return e, nil
}

// ReadEtcdAuth reads an etcd credentials file (`state_auth:`): one line
// "username:password". It refuses a file that others may read or write
// (mode beyond 0600 for group or others), an empty username and an empty
// password.
func ReadEtcdAuth(path string) (user, password string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("reading the etcd credentials: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", "", fmt.Errorf("the etcd credentials file %s is readable or writable by others (mode %v); run: chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("reading the etcd credentials: %w", err)
	}
	line := strings.TrimRight(string(b), "\r\n")
	user, password, ok := strings.Cut(line, ":")
	if !ok || user == "" || password == "" || strings.ContainsAny(line, "\r\n") {
		return "", "", fmt.Errorf("the etcd credentials file %s must hold one line username:password", path)
	}
	return user, password, nil
}

// Cluster is the `cluster:` section: how a serve takes part among the
// instances that share one etcd state. Every instance routes traffic and
// answers reads; one, elected, runs the controller.
type Cluster struct {
	// ID names the instance among the live ones ("" means the host name and
	// the API port, e.g. "app-1-9001"); Advertise is the address the other
	// instances reach its API at ("" means the API listener's address).
	ID, Advertise string
	// TTL is the instance's lease: how long a dead instance stays listed
	// and, at most, how long a dead leader (and the operation lock it held)
	// keeps the others waiting.
	TTL time.Duration
	// AckTimeout is how long a switch waits for every live router to
	// confirm it serves the new color.
	AckTimeout time.Duration
}

// DefaultCluster returns the `cluster:` defaults.
func DefaultCluster() Cluster { return Cluster{TTL: 10 * time.Second, AckTimeout: 5 * time.Second} }

// clusterSection decodes the `cluster:` section into cl.
func (d *decoder) clusterSection(v value, cl *Cluster) {
	d.mapping(v,
		opt("id", func(v value) {
			s, ok := d.str(v, "a name")
			switch {
			case !ok:
			case s == "" || strings.ContainsAny(s, "/ \t\n") || len(s) > 64:
				d.invalid(v, "%q: an instance ID is 1 to 64 characters, without '/' or spaces", s)
			default:
				cl.ID = s
			}
		}),
		opt("advertise", func(v value) { d.address(v, false, &cl.Advertise) }),
		opt("ttl", func(v value) {
			d.duration(v, &cl.TTL)
			if cl.TTL > 0 && cl.TTL < 2*time.Second {
				d.invalid(v, "must be at least 2s (etcd leases count whole seconds, and the keep-alive runs every third)")
			}
		}),
		opt("ack_timeout", func(v value) { d.duration(v, &cl.AckTimeout) }),
	)
}

// stateKeys decodes `state:`, `state_tls:`, `state_auth:` and `data_dir:`
// into c; it returns their fields for the config's mapping, and a check to
// run once they are all decoded.
func (d *decoder) stateKeys(c *Config) (fields []field, check func()) {
	var (
		tlsAt, authAt, dataAt, clusterAt value
		given                            [4]bool // state_tls, state_auth, data_dir, cluster
		cl                               = DefaultCluster()
		ca, cert, key, auth              string
		dataDir                          string
		etcdMeant                        bool
	)
	fields = []field{
		opt("state", func(v value) {
			s, ok := d.str(v, "a directory path or an etcd URL")
			switch {
			case !ok:
			case strings.TrimSpace(s) == "":
				d.invalid(v, "must not be empty (the default is %s)", DefaultStateDir)
			case IsEtcdURL(s):
				etcdMeant = true
				e, err := ParseEtcdURL(s)
				if err != nil {
					d.invalid(v, "%v", err)
					return
				}
				c.Etcd = e
			case strings.Contains(s, "://"):
				d.invalid(v, "%q: the only URL scheme is etcd:// (else give a directory path)", s)
			default:
				c.StateDir = s
			}
		}),
		opt("state_tls", func(v value) {
			tlsAt, given[0] = v, true
			d.mapping(v, opt("ca", d.pemFile(&ca)), opt("cert", d.pemFile(&cert)), opt("key", d.pemFile(&key)))
			gc, gk := d.given[v.child("cert")], d.given[v.child("key")]
			switch {
			case gc != gk:
				d.invalid(v, "give both cert and key (a client certificate), or neither")
			case !gc && !d.given[v.child("ca")]:
				d.invalid(v, "give ca, or cert and key, or all three")
			case cert != "" && key != "":
				if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
					d.invalid(v, "the certificate and key do not load as a TLS key pair: %v", err)
				}
			}
		}),
		opt("state_auth", func(v value) {
			authAt, given[1] = v, true
			var f string
			d.filePath("a file path", &f)(v)
			if f == "" {
				return
			}
			if _, _, err := ReadEtcdAuth(f); err != nil {
				d.invalid(v, "%v", err)
				return
			}
			auth = f
		}),
		opt("data_dir", func(v value) {
			dataAt, given[2] = v, true
			if s, ok := d.str(v, "a directory path"); ok && strings.TrimSpace(s) == "" {
				d.invalid(v, "must not be empty (the default is %s)", DefaultStateDir)
			} else if ok {
				dataDir = s
			}
		}),
	}
	fields = append(fields, opt("cluster", func(v value) {
		clusterAt, given[3] = v, true
		d.clusterSection(v, &cl)
	}))
	check = func() {
		if c.Etcd == nil {
			for i, v := range []value{tlsAt, authAt, dataAt, clusterAt} {
				if given[i] && !etcdMeant { // a bad etcd URL is reported already
					d.invalid(v, "is only for etcd state (state: etcd://...); with a state directory, everything is in it")
				}
			}
			return
		}
		c.Etcd.CA, c.Etcd.Cert, c.Etcd.Key, c.Etcd.AuthFile = ca, cert, key, auth
		c.Cluster = &cl
		if dataDir != "" {
			c.StateDir = dataDir
		}
	}
	return fields, check
}

// pemFile decodes the path of a PEM file (see filePath).
func (d *decoder) pemFile(dst *string) func(value) { return d.filePath("a PEM file path", dst) }

// filePath decodes a file path, resolved against the config's directory,
// that must exist; it is stored in dst as an absolute path. want says
// what is expected, for a value of the wrong type.
func (d *decoder) filePath(want string, dst *string) func(value) {
	return func(v value) {
		s, ok := d.str(v, want)
		if !ok {
			return
		}
		if strings.TrimSpace(s) == "" {
			d.invalid(v, "must not be empty")
			return
		}
		written := s
		if !filepath.IsAbs(s) && d.file != "" {
			s = filepath.Join(filepath.Dir(d.file), s)
		}
		if abs, err := filepath.Abs(s); err == nil {
			s = abs
		}
		if _, err := os.Stat(s); err != nil {
			d.invalid(v, "cannot read %s: %v", written, unwrapPathError(err))
			return
		}
		*dst = s
	}
}

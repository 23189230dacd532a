// Package config loads and validates bluegreen.yaml.
//
// Decoding is strict: unknown keys, wrong types, duplicate keys and invalid
// values are errors, and every error names file:line:col and what is
// expected. Load and Parse report all problems at once as an ErrorList.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
)

// Config is a loaded, valid bluegreen.yaml with every default applied. It is
// not changed after Load or Parse returns; share it freely for reading.
type Config struct {
	// File is the path the config was loaded from, as given; "" when parsed
	// from bytes without a name.
	File string
	// Listen is the public router listener, Preview the listener that proxies
	// to the inactive color, API the HTTP API listener. Each is host:port;
	// port 0 means "pick a free port".
	Listen, Preview, API string
	// StateDir is the absolute local directory: with SQLite state (Etcd
	// nil) the state directory of `state:` (state.db, the API token, app
	// releases and supervisors, temp files); with etcd state the directory
	// of `data_dir:` (default DefaultStateDir), which holds all that but
	// the state.
	StateDir string
	// Etcd, when not nil, is the etcd cluster that holds the state
	// (`state: etcd://...`); nil means SQLite in StateDir.
	Etcd *Etcd
	// Cluster is how this serve takes part among the serve instances
	// sharing the etcd state (`cluster:`); nil with SQLite state.
	Cluster *Cluster
	// InitialLive is the live color on the first start of a fresh state.
	InitialLive bluegreen.Color
	// Router holds the data-plane settings.
	Router Router
	// App is the `app:` section: what to deploy and how to run it; nil when
	// the file has none (bluegreen then only routes to the upstreams).
	App *App
	// Colors holds both colors' settings; both keys are always present.
	Colors map[bluegreen.Color]*Color
	// Watch is the post-switch watch.
	Watch Watch
	// APITLS, when not nil, serves the API over HTTPS.
	APITLS *TLS
	// PreviewURL is where people reach the preview listener (through a
	// proxy or a DNS name), for QA links; "" means the listener's address.
	PreviewURL string
	// SwitchMode is SwitchRouter (default), SwitchDNS or SwitchBoth.
	SwitchMode string
	// DNS is the record a switch moves; set exactly when SwitchMode is not
	// SwitchRouter.
	DNS *DNS
	// Webhooks receive notifications of deploys, verifications, switches,
	// rollbacks and failures.
	Webhooks []Webhook
}

// ChecksFor returns the verification checks of color: the app's, then the
// color's own.
func (c *Config) ChecksFor(color bluegreen.Color) []Check {
	var out []Check
	if c.App != nil {
		out = append(out, c.App.Checks...)
	}
	if cc := c.Colors[color]; cc != nil {
		out = append(out, cc.Checks...)
	}
	return out
}

// Router holds the router's settings (the `router:` section).
type Router struct {
	// ColorPath is where the router answers with the live color; starts with "/".
	ColorPath string
	// ColorHeader adds X-Bluegreen-Color to proxied responses.
	ColorHeader bool
	// DrainTimeout bounds how long the old color's in-flight requests may run
	// after a switch.
	DrainTimeout time.Duration
	// ReadHeaderTimeout and IdleTimeout apply to client connections.
	ReadHeaderTimeout, IdleTimeout time.Duration
	// BodyTimeout bounds each wait for more of a request body.
	BodyTimeout time.Duration
	// ConnectTimeout bounds dialing an upstream.
	ConnectTimeout time.Duration
	// MaxRequestBody caps request bodies in bytes; 0 means unlimited.
	MaxRequestBody int64
	// MaxHeaderBytes caps a request head in bytes (431 above it),
	// MaxURILength the request target (414), MaxHeaders the number of
	// header lines (431). The same on every data path.
	MaxHeaderBytes, MaxURILength int64
	MaxHeaders                   int
	// BufferRequests reads each request body whole before the app sees
	// the request; BufferMemory of it in memory, the rest in a temp file
	// in the state directory; the whole body within BodyDeadline.
	BufferRequests bool
	BufferMemory   int64
	BodyDeadline   time.Duration
	// BufferResponses reads answers with a length up to
	// BufferResponseMax from the app at its speed, whatever the client's.
	BufferResponses   bool
	BufferResponseMax int64
	// MaxConnections caps the client connections each listener holds
	// open (0: derived from the file descriptor limit).
	MaxConnections int
	// MemoryLimit is serve's soft memory limit in bytes (default 512 MiB;
	// 0: none; GOMEMLIMIT wins).
	MemoryLimit int64
	// TrustForwardedHeaders keeps incoming X-Forwarded-* headers (appending
	// to them); when false they are replaced.
	TrustForwardedHeaders bool
	// UnderscoresInHeaders forwards request headers whose names hold an
	// underscore; by default they are dropped (nginx's
	// underscores_in_headers off).
	UnderscoresInHeaders bool
	// DataPath is DataPathLoop (default), DataPathFast or DataPathStandard.
	DataPath string
	// EventLoops is how many event loops each listener runs with
	// DataPathLoop; 0 (default) means one per core (half of GOMAXPROCS
	// when the environment sets it), at least one.
	EventLoops int
}

// Data paths of `router.data_path:`.
const (
	// DataPathLoop serves client connections on event loops (epoll;
	// Router.EventLoops of them) that read plain HTTP/1.1 requests and
	// forward them themselves; a connection with anything else moves to
	// DataPathFast's goroutine path. Where there is no epoll (not Linux)
	// it is DataPathFast.
	DataPathLoop = "loop"
	// DataPathFast reads plain HTTP/1.1 requests itself and forwards them
	// with its own upstream client; everything else (upgrades, 100-continue,
	// HTTP/1.0, odd requests) goes through net/http.
	DataPathFast = "fast"
	// DataPathStandard serves every request with net/http's server and
	// httputil.ReverseProxy: slower, the fallback if the fast path ever
	// misbehaves with a client or an app.
	DataPathStandard = "standard"
)

// Color holds one color's settings (the `blue:` and `green:` sections).
type Color struct {
	// Branch is the git branch this color deploys from.
	Branch string
	// Upstreams are the host:port addresses serving this color (at least
	// one). With Hosts they are the hosts' addresses, in order. When the
	// file lists neither they are 127.0.0.1:<port> for each of Ports.
	Upstreams []string
	// Hosts are the machines serving this color (`hosts:`), nil when the
	// file lists upstreams or ports instead. Today the router and the
	// health checks use their addresses (through Upstreams) and the health
	// verdict reports each host; bluegreen does not deploy onto them.
	Hosts []Host
	// Ports are the ports the color's app processes listen on ($PORT), each
	// 1..65535, distinct across both colors and the listeners. Set only with
	// an `app:` section (from `port:` or `ports:`); nil when not given.
	Ports []int
	// Health is the color's health check.
	Health HealthCheck
	// Checks are this color's own verification checks, run after the
	// app's (see Config.ChecksFor).
	Checks []Check
}

// HealthCheck says how to probe a color's upstreams.
type HealthCheck struct {
	// Path is the HTTP path to GET; starts with "/".
	Path string
	// Status is the expected response status.
	Status int
	// Interval is the time between probes; Timeout bounds one probe and is
	// never longer than Interval.
	Interval, Timeout time.Duration
	// HealthyThreshold is how many consecutive passes make a color healthy,
	// UnhealthyThreshold how many consecutive failures make it unhealthy.
	HealthyThreshold, UnhealthyThreshold int
}

// DefaultStateDir is the state directory when `state:` is not set, and the
// local directory when `state:` is an etcd URL and `data_dir:` is not set;
// relative to the config file's directory.
const DefaultStateDir = ".bluegreen"

// DefaultRouter returns the router settings used when `router:` or some of
// its keys are absent.
func DefaultRouter() Router {
	return Router{
		ColorPath:         "/deployment/color/",
		ColorHeader:       true,
		DrainTimeout:      30 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BodyTimeout:       60 * time.Second,
		ConnectTimeout:    5 * time.Second,
		MaxHeaderBytes:    32 << 10,
		MaxURILength:      8 << 10,
		MaxHeaders:        100,
		MemoryLimit:       512 << 20,
		BufferRequests:    true,
		BufferResponses:   true,
		BufferResponseMax: 8 << 20,
		BufferMemory:      64 << 10,
		BodyDeadline:      5 * time.Minute,
		DataPath:          DataPathLoop,
	}
}

// DefaultHealthCheck returns the health check used when `health:` or some of
// its keys are absent.
func DefaultHealthCheck() HealthCheck {
	return HealthCheck{
		Path:               "/",
		Status:             200,
		Interval:           2 * time.Second,
		Timeout:            time.Second,
		HealthyThreshold:   1,
		UnhealthyThreshold: 3,
	}
}

// Load reads and parses the config file at path. A file that cannot be read
// (missing, a directory, no permission) is an ErrorList with one position-less
// *Error wrapping the cause, so errors.Is(err, fs.ErrNotExist) works. Every
// other problem is reported as by Parse.
func Load(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		msg := "cannot read config file: " + unwrapPathError(err).Error()
		if errors.Is(err, fs.ErrNotExist) {
			msg = "config file not found"
		}
		return nil, ErrorList{{File: path, Message: msg, Err: err}}
	}
	return Parse(path, data)
}

// readFile reads the file at path, no more than one byte over MaxFileSize
// (Parse refuses it then), so that a huge file or a device is not read whole.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse decodes and validates a config. file names it in error messages and
// anchors a relative `state:` directory (the current directory when file is
// ""). On failure the error is an ErrorList holding every problem found,
// sorted by position, and the Config is nil.
func Parse(file string, data []byte) (*Config, error) {
	d := newDecoder(file)
	root, ok := d.document(data)
	if !ok {
		return nil, d.sorted()
	}
	c := &Config{File: file}
	d.config(root, c)
	if len(d.errs) > 0 {
		return nil, d.sorted()
	}
	if err := c.resolveStateDir(); err != nil {
		return nil, ErrorList{{File: file, Line: 1, Column: 1, Message: err.Error(), Err: err}}
	}
	return c, nil
}

// document parses data into the root value, reporting syntax errors, empty
// documents and multiple documents.
func (d *decoder) document(data []byte) (value, bool) {
	if len(data) > MaxFileSize {
		d.errorf(docStart, "the file is %d bytes; a config file may have at most %d (%d KiB)", len(data), MaxFileSize, MaxFileSize>>10)
		return value{}, false
	}
	f, err := parse(data)
	if err != nil {
		var ye yaml.Error
		var deep *depthError
		if errors.As(err, &deep) {
			d.errorf(deep.at, "%s", depthMessage)
		} else if errors.As(err, &ye) && ye.GetToken() != nil && ye.GetToken().Position != nil {
			p := ye.GetToken().Position
			d.errorf(pos{p.Line, p.Column}, "YAML syntax error: %s", ye.GetMessage())
		} else {
			d.errorf(docStart, "YAML syntax error: %v", err)
		}
		return value{}, false
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	switch {
	case len(docs) == 0 && strings.TrimSpace(string(data)) == "":
		d.errorf(docStart, "the file is empty (want a mapping with listen, preview, api, blue and green)")
		return value{}, false
	case len(docs) == 0:
		d.errorf(docStart, "the file holds no settings, only comments (want a mapping with listen, preview, api, blue and green)")
		return value{}, false
	case len(docs) > 1:
		p := nodePos(docs[1].Body)
		if st := docs[1].Start; st != nil && st.Position != nil {
			p = pos{st.Position.Line, st.Position.Column}
		}
		d.errorf(p, "want one YAML document, found %d", len(docs))
		return value{}, false
	}
	d.collectAnchors(docs[0].Body)
	return d.resolve(value{}, "", docStart, docs[0].Body), true
}

// parse runs the YAML lexer and parser, turning a panic in them into an error
// so that a parser bug cannot crash the caller. A document nested deeper than
// MaxDepth is a *depthError, found on the tokens before any node is built.
func parse(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("parser failed: %v", r)
		}
	}()
	tokens := lexer.Tokenize(string(data))
	if at, deep := tooDeep(tokens); deep {
		return nil, &depthError{at}
	}
	// Duplicate keys are reported by the decoder, with both positions.
	return parser.Parse(tokens, 0, parser.AllowDuplicateMapKey())
}

// depthError says where a document nests deeper than MaxDepth.
type depthError struct{ at pos }

func (e *depthError) Error() string { return e.at.String() + ": " + depthMessage }

// resolveStateDir makes StateDir absolute, relative to the config's directory.
func (c *Config) resolveStateDir() error {
	dir := c.StateDir
	if !filepath.IsAbs(dir) && c.File != "" {
		dir = filepath.Join(filepath.Dir(c.File), dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolving state directory %q: %w", c.StateDir, err)
	}
	c.StateDir = abs
	return nil
}

package loadgen

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Defaults applied by Start to zero Options fields.
const (
	DefaultConnections = 8
	DefaultColorHeader = "X-Bluegreen-Color"
	DefaultTimeout     = 10 * time.Second
	DefaultGrace       = time.Second
)

// dialBackoff is how long a worker waits after a failed dial before it tries
// again, so that a dead target (every dial refused in microseconds) does not
// turn the load generator into a busy loop on the cores the router needs.
const dialBackoff = 10 * time.Millisecond

// Options configures a load run. The zero value of every field except URL is
// usable and means the documented default.
type Options struct {
	// URL is the http:// or https:// URL every request GETs, e.g.
	// "http://127.0.0.1:8080/". Required.
	URL string
	// Connections is the number of concurrent workers, each with its own
	// kept-alive connection, like wrk -c. Default DefaultConnections.
	Connections int
	// Duration stops the run after this long; 0 runs until ctx is done, Stop
	// is called or Requests is reached. ctx always bounds the run.
	Duration time.Duration
	// Requests stops the run after exactly this many requests in total have
	// been started; 0 means no count limit.
	Requests int64
	// Rate caps the total request rate (requests per second, over all
	// workers); 0 sends as fast as the workers can. With Rate, requests
	// follow a fixed schedule, request n due n/Rate after the start (an
	// open loop, up to Connections requests in flight), and
	// Result.CorrectedLatency measures from the due times.
	Rate int
	// ColorHeader is the response header naming the color that answered.
	// Default DefaultColorHeader.
	ColorHeader string
	// Timeout bounds each request: dial, write, response and body. Default
	// DefaultTimeout.
	Timeout time.Duration
	// Grace is how long requests in flight when the run ends (Duration
	// elapsed, ctx done, Stop) may take to finish; those still running
	// afterwards are cut and counted in Result.Aborted, not as failures.
	// Default DefaultGrace; a negative value cuts them at once.
	Grace time.Duration
	// OKStatus says which status codes count as OK. Default: 2xx.
	OKStatus func(code int) bool
	// Host overrides the Host header (default: the URL's host).
	Host string
	// Header holds extra request headers, sent with every request.
	Header http.Header
	// TLSConfig is used for https URLs; nil means a default config. It is
	// cloned; ServerName defaults to the URL's host name. HTTP/2 is never
	// negotiated.
	TLSConfig *tls.Config
}

// config is Options validated and with defaults applied.
type config struct {
	Options
	addr      string // host:port to dial
	tls       *tls.Config
	request   []byte // the serialized request, written as-is
	colorName []byte // ColorHeader, for case-insensitive comparison
}

func newConfig(o Options) (*config, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "loadgen: bad URL %q: %v", o.URL, err)
	}
	if u.Host == "" {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "loadgen: URL %q has no host", o.URL)
	}
	c := &config{Options: o}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		c.tls = &tls.Config{}
		if o.TLSConfig != nil {
			c.tls = o.TLSConfig.Clone()
		}
		c.tls.NextProtos = []string{"http/1.1"}
		if c.tls.ServerName == "" {
			c.tls.ServerName = u.Hostname()
		}
	default:
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "loadgen: URL %q: scheme must be http or https", o.URL)
	}
	c.addr = net.JoinHostPort(u.Hostname(), port)
	switch {
	case o.Connections < 0:
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "loadgen: Connections is %d, want >= 0", o.Connections)
	case o.Requests < 0, o.Rate < 0, o.Duration < 0, o.Timeout < 0:
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "loadgen: Requests, Rate, Duration and Timeout must not be negative")
	}
	if c.Connections == 0 {
		c.Connections = DefaultConnections
	}
	if c.ColorHeader == "" {
		c.ColorHeader = DefaultColorHeader
	}
	c.colorName = []byte(c.ColorHeader)
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.Grace < 0 {
		c.Grace = 0
	}
	if c.OKStatus == nil {
		c.OKStatus = func(code int) bool { return code >= 200 && code <= 299 }
	}
	host := c.Host
	if host == "" {
		host = u.Host
	}
	req, err := buildRequest(u.RequestURI(), host, c.Header)
	if err != nil {
		return nil, err
	}
	c.request = req
	return c, nil
}

// buildRequest serializes the one request every worker sends, so that the hot
// loop writes a ready-made byte slice.
func buildRequest(uri, host string, h http.Header) ([]byte, error) {
	if strings.ContainsAny(host, "\r\n ") {
		return nil, bluegreen.Errorf(bluegreen.EINVALID, "loadgen: bad Host %q", host)
	}
	var b strings.Builder
	b.WriteString("GET " + uri + " HTTP/1.1\r\nHost: " + host + "\r\n")
	if h.Get("User-Agent") == "" {
		b.WriteString("User-Agent: bluegreen-loadgen\r\n")
	}
	for name, values := range h {
		if strings.EqualFold(name, "Host") || strings.EqualFold(name, "Connection") {
			return nil, bluegreen.Errorf(bluegreen.EINVALID, "loadgen: header %q cannot be set in Header", name)
		}
		for _, v := range values {
			if strings.ContainsAny(name+v, "\r\n") {
				return nil, bluegreen.Errorf(bluegreen.EINVALID, "loadgen: header %q has a line break", name)
			}
			b.WriteString(name + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return []byte(b.String()), nil
}

package config

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Check is one named verification check (an entry of `app.checks:` or of a
// color's `checks:`): exactly one of HTTP and Command is set.
type Check struct {
	// Name is unique among the checks that apply to a color.
	Name string
	// HTTP is a request to the color and what its answer must look like.
	HTTP *HTTPCheck
	// Command is a shell command line run in the color's release directory
	// with BLUEGREEN_URL and BLUEGREEN_COLOR set.
	Command string
	// Timeout bounds one attempt; Retries is how many more attempts a
	// failing check gets.
	Timeout time.Duration
	Retries int
}

// HTTPCheck is the `http:` of a check.
type HTTPCheck struct {
	// Method is an HTTP method (GET by default); Path starts with "/" and
	// may carry a query.
	Method, Path string
	// Headers are sent in file order.
	Headers []Header
	// Body is the request body, "" for none.
	Body string
	// Status is the expected status (200 by default).
	Status int
	// BodyContains, when not "", must appear in the response body.
	BodyContains string
	// JSONField, when not "", is a dotted path into a JSON response body
	// whose value must equal JSONEquals (a string compares as its text,
	// other values by their JSON text).
	JSONField, JSONEquals string
}

// Header is one request header of an HTTP check.
type Header struct{ Name, Value string }

// Promotion modes of `app.promotion:`.
const (
	// PromotionManual leaves the switch to a person or CI.
	PromotionManual = "manual"
	// PromotionAuto switches after a deploy whose verification passed.
	PromotionAuto = "auto"
)

// Watch is the `watch:` section: after every switch, the new live color's
// router figures are judged every Interval for Window; a breach of a
// threshold switches back to the previous color.
type Watch struct {
	// Enabled is false when the section says `enabled: false`.
	Enabled bool
	// Window is how long a new live color is watched; Interval how often
	// its figures are judged.
	Window, Interval time.Duration
	// MinRequests is how many requests the new color must have answered
	// since the switch before it is judged at all.
	MinRequests int
	// MaxErrorRatio is the highest acceptable share of 5xx answers
	// (0..1) since the switch.
	MaxErrorRatio float64
	// MaxP99 is the highest acceptable 99th percentile latency since the
	// switch; 0 means not judged.
	MaxP99 time.Duration
	// StopPreviousAfter, when > 0, stops the previous color's app that long
	// after a watch passed (rollbacks are instant only while it runs).
	StopPreviousAfter time.Duration
	// Prometheus, when not nil, is also asked at every interval.
	Prometheus *PrometheusCheck
}

// PrometheusCheck asks a Prometheus server for one value and compares it
// with a threshold.
type PrometheusCheck struct {
	// URL is the server's base URL (http or https).
	URL string
	// Query is a PromQL instant query that returns one sample; the text
	// {{color}} in it is replaced by the color being watched.
	Query string
	// Max is the highest acceptable value.
	Max float64
}

// DefaultWatch returns the watch used when `watch:` or some of its keys
// are absent.
func DefaultWatch() Watch {
	return Watch{Enabled: true, Window: 2 * time.Minute, Interval: 5 * time.Second, MinRequests: 20, MaxErrorRatio: 0.05}
}

var checkName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

var httpMethod = regexp.MustCompile(`^[A-Z]+$`)

// checks decodes a list of checks into dst.
func (d *decoder) checks(v value, dst *[]Check) {
	if v.empty() {
		return
	}
	d.list(v, "a list of checks (each with a name and http: or command:)", 0, func(_ int, e value) {
		c := Check{Timeout: 30 * time.Second}
		d.mapping(e,
			req("name", func(v value) {
				s, ok := d.str(v, "a check name")
				switch {
				case ok && !checkName.MatchString(s):
					d.invalid(v, "%q is not a check name (want letters, digits, '.', '_' or '-')", s)
				case ok:
					c.Name = s
				}
			}),
			opt("http", func(v value) { c.HTTP = &HTTPCheck{}; d.httpCheck(v, c.HTTP) }),
			opt("command", func(v value) { d.shell(v, &c.Command) }),
			opt("timeout", func(v value) { d.duration(v, &c.Timeout) }),
			opt("retries", func(v value) { d.integer(v, 0, 100, &c.Retries) }),
		)
		hasHTTP, hasCmd := d.given[e.child("http")], d.given[e.child("command")]
		switch {
		case hasHTTP && hasCmd:
			d.errorf(d.seen[e.child("command")], "%s: a check has http or command, not both (http is at %s)",
				e.path, d.seen[e.child("http")])
		case !hasHTTP && !hasCmd:
			d.errorf(e.at, "%s: a check needs http: (a request) or command: (a shell command)", e.path)
		}
		*dst = append(*dst, c)
	})
}

// httpCheck decodes the `http:` of a check.
func (d *decoder) httpCheck(v value, h *HTTPCheck) {
	h.Method, h.Status = http.MethodGet, http.StatusOK
	d.mapping(v,
		opt("method", func(v value) {
			s, ok := d.str(v, "an HTTP method")
			if ok && !httpMethod.MatchString(s) {
				d.invalid(v, "%q is not an HTTP method (want e.g. GET, POST, in capitals)", s)
			} else if ok {
				h.Method = s
			}
		}),
		req("path", func(v value) {
			s, ok := d.str(v, "a path starting with /")
			u, err := url.ParseRequestURI(s)
			switch {
			case ok && (!strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//")):
				d.invalid(v, "%q must start with a single /", s)
			case ok && (err != nil || u.Host != "" || strings.ContainsAny(s, " \t\n#")):
				d.invalid(v, "%q is not a URL path (with an optional ?query)", s)
			case ok:
				h.Path = s
			}
		}),
		opt("headers", func(v value) { d.headers(v, &h.Headers) }),
		opt("body", func(v value) {
			if s, ok := d.str(v, "the request body"); ok {
				h.Body = s
			}
		}),
		opt("status", func(v value) { d.integer(v, 100, 599, &h.Status) }),
		opt("body_contains", func(v value) {
			s, ok := d.str(v, "text the body must contain")
			if ok && s == "" {
				d.invalid(v, "must not be empty")
			} else if ok {
				h.BodyContains = s
			}
		}),
		opt("json", func(v value) {
			d.mapping(v,
				req("field", func(v value) {
					s, ok := d.str(v, "a dotted path such as data.version")
					if ok && (s == "" || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..")) {
						d.invalid(v, "%q is not a dotted path (want e.g. data.version or items.0.id)", s)
					} else if ok {
						h.JSONField = s
					}
				}),
				req("equals", func(v value) {
					if s, ok := d.envValue(v); ok {
						h.JSONEquals = s
					}
				}),
			)
		}),
	)
}

// headers decodes a mapping of request headers, kept in file order.
func (d *decoder) headers(v value, dst *[]Header) {
	if v.empty() {
		return
	}
	d.dict(v, "a mapping of Header-Name: value", func(name string, kp pos, e value) {
		if !validHeaderName(name) {
			d.errorf(kp, "%s: %q is not a header name", v.path, name)
			return
		}
		s, ok := d.envValue(e)
		if ok && strings.ContainsAny(s, "\r\n") {
			d.invalid(e, "a header value must not contain line breaks")
		} else if ok {
			*dst = append(*dst, Header{Name: name, Value: s})
		}
	})
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= 0x20 || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// checkNames reports two checks with one name among those that apply to a
// color (the app's and the color's own).
func (d *decoder) checkNames(path string, app, own []Check, appPath string) {
	first := map[string]string{}
	for i, c := range app {
		first[c.Name] = fmt.Sprintf("%s[%d]", appPath, i)
	}
	for i, c := range own {
		p := fmt.Sprintf("%s[%d]", path, i)
		if at, dup := first[c.Name]; dup && c.Name != "" {
			d.errorf(d.seen[p+".name"], "%s.name: %q is also the name of %s (at %s); check names must be unique",
				p, c.Name, at, d.seen[at+".name"])
			continue
		}
		first[c.Name] = p
	}
}

// watch decodes the `watch:` section.
func (d *decoder) watch(v value, w *Watch) {
	d.mapping(v,
		opt("enabled", func(v value) { d.boolean(v, &w.Enabled) }),
		opt("window", func(v value) { d.duration(v, &w.Window) }),
		opt("interval", func(v value) { d.duration(v, &w.Interval) }),
		opt("min_requests", func(v value) { d.integer(v, 1, math.MaxInt, &w.MinRequests) }),
		opt("max_error_ratio", func(v value) { d.ratio(v, &w.MaxErrorRatio) }),
		opt("max_p99", func(v value) { d.duration(v, &w.MaxP99) }),
		opt("stop_previous_after", func(v value) { d.duration(v, &w.StopPreviousAfter) }),
		opt("prometheus", func(v value) {
			p := &PrometheusCheck{}
			d.mapping(v,
				req("url", func(v value) {
					s, ok := d.str(v, "an http(s) URL")
					u, err := url.Parse(s)
					switch {
					case ok && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == ""):
						d.invalid(v, "%q is not an http or https URL", s)
					case ok && u.User != nil:
						d.invalid(v, "must not carry credentials (user:password@): they would be logged with every failed query")
					case ok:
						p.URL = strings.TrimSuffix(s, "/")
					}
				}),
				req("query", func(v value) {
					s, ok := d.str(v, "a PromQL query")
					if ok && strings.TrimSpace(s) == "" {
						d.invalid(v, "must not be empty")
					} else if ok {
						p.Query = s
					}
				}),
				req("max", func(v value) { d.number(v, &p.Max) }),
			)
			w.Prometheus = p
		}),
	)
	if w.Interval > w.Window {
		if at, given := d.seen[v.child("interval")]; given {
			d.errorf(at, "%s: %s is longer than the window %s", v.child("interval"), w.Interval, w.Window)
		} else {
			d.errorf(d.seen[v.child("window")], "%s: %s is shorter than the default interval %s (set interval too)",
				v.child("window"), w.Window, w.Interval)
		}
	}
}

// ratio decodes a share between 0 and 1: a number (0.05) or a percentage
// ("5%").
func (d *decoder) ratio(v value, dst *float64) {
	var f float64
	if s, ok := v.node.(*ast.StringNode); ok && strings.HasSuffix(s.Value, "%") {
		p, err := strconv.ParseFloat(strings.TrimSuffix(s.Value, "%"), 64)
		if err != nil {
			d.invalid(v, "%q is not a percentage (want e.g. 5%% or 0.05)", s.Value)
			return
		}
		f = p / 100
	} else if !d.number(v, &f) {
		return
	}
	if f < 0 || f > 1 || math.IsNaN(f) {
		d.invalid(v, "%v is out of range (want 0..1, or 0%%..100%%)", f)
		return
	}
	*dst = f
}

// number decodes an integer or a decimal number.
func (d *decoder) number(v value, dst *float64) bool {
	switch n := v.node.(type) {
	case *ast.FloatNode:
		*dst = n.Value
		return true
	case *ast.IntegerNode:
		if i, ok := d.int64(v); ok {
			*dst = float64(i)
			return true
		}
		return false
	}
	if v.empty() {
		d.invalid(v, "missing value (want a number)")
	} else {
		d.invalid(v, "want a number, got %s", describe(v))
	}
	return false
}

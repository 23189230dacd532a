package config

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*.golden from the current output")

// TestBadConfigs loads every testdata/bad/*.yaml and compares the error text
// with NAME.golden. Run `go test ./config -update` to rewrite the goldens,
// then review the diff.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("found %d bad configs, want at least 12", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			c, err := Load(file)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want an error", file, c)
			}
			if c != nil {
				t.Errorf("Load(%s) returned a Config with the error", file)
			}
			checkErrorList(t, err, file)
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading golden (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// checkErrorList asserts the error contract: an ErrorList of positioned
// errors naming file, sorted, reported as EINVALID.
func checkErrorList(t *testing.T, err error, file string) {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error %T is not a non-empty ErrorList: %v", err, err)
	}
	for i, e := range list {
		if e.File != file || e.Line < 1 || e.Column < 1 {
			t.Errorf("error %d = %q: want file %q and a position", i, e, file)
		}
		if i > 0 && (e.Line < list[i-1].Line || e.Line == list[i-1].Line && e.Column < list[i-1].Column) {
			t.Errorf("errors not sorted by position: %q after %q", e, list[i-1])
		}
	}
	if code := bluegreen.ErrorCode(err); code != bluegreen.EINVALID {
		t.Errorf("ErrorCode = %q, want %q", code, bluegreen.EINVALID)
	}
}

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return c
}

func abs(t *testing.T, path string) string {
	t.Helper()
	a, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMinimalConfigGetsDefaults(t *testing.T) {
	c := mustLoad(t, "testdata/good/minimal.yaml")
	hc := DefaultHealthCheck()
	want := &Config{
		File:        "testdata/good/minimal.yaml",
		Listen:      "127.0.0.1:8080",
		Preview:     "127.0.0.1:8081",
		API:         "127.0.0.1:8082",
		StateDir:    abs(t, "testdata/good/.bluegreen"),
		InitialLive: bluegreen.Blue,
		Router:      DefaultRouter(),
		Watch:       DefaultWatch(),
		SwitchMode:  SwitchRouter,
		Colors: map[bluegreen.Color]*Color{
			bluegreen.Blue:  {Branch: "production", Upstreams: []string{"127.0.0.1:9001"}, Health: hc},
			bluegreen.Green: {Branch: "green", Upstreams: []string{"127.0.0.1:9002"}, Health: hc},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %#v\nwant %#v", c, want)
	}
	// The documented defaults, spelled out once so a change is deliberate.
	r := c.Router
	if r.ColorPath != "/deployment/color/" || !r.ColorHeader || r.DrainTimeout != 30*time.Second ||
		r.ReadHeaderTimeout != 10*time.Second || r.IdleTimeout != 120*time.Second || r.BodyTimeout != 60*time.Second ||
		r.ConnectTimeout != 5*time.Second || r.MaxRequestBody != 0 || r.TrustForwardedHeaders || r.DataPath != DataPathLoop {
		t.Errorf("router defaults = %+v", r)
	}
	if hc != (HealthCheck{Path: "/", Status: 200, Interval: 2 * time.Second, Timeout: time.Second,
		HealthyThreshold: 1, UnhealthyThreshold: 3}) {
		t.Errorf("health defaults = %+v", hc)
	}
}

func TestFullConfig(t *testing.T) {
	c := mustLoad(t, "testdata/good/full.yaml")
	if c.Listen != ":80" || c.Preview != "0.0.0.0:0" || c.API != "[::1]:0" {
		t.Errorf("listeners = %q %q %q", c.Listen, c.Preview, c.API)
	}
	if want := abs(t, "testdata/var/bluegreen"); c.StateDir != want {
		t.Errorf("StateDir = %q, want %q (relative to the config's directory)", c.StateDir, want)
	}
	if c.InitialLive != bluegreen.Green {
		t.Errorf("InitialLive = %q", c.InitialLive)
	}
	wantRouter := Router{ColorPath: "/color", ColorHeader: false, DrainTimeout: 90 * time.Second,
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute, BodyTimeout: 15 * time.Second, ConnectTimeout: 250 * time.Millisecond,
		MaxRequestBody: 10 << 20, MaxHeaderBytes: 16 << 10, MaxURILength: 4096, MaxHeaders: 50, UnderscoresInHeaders: true, MaxConnections: 5000, MemoryLimit: 1 << 30,
		BufferRequests: false, BufferMemory: 8 << 10, BodyDeadline: 90 * time.Second, BufferResponses: false, BufferResponseMax: 1 << 20,
		TrustForwardedHeaders: true, DataPath: DataPathStandard, EventLoops: 3}
	if c.Router != wantRouter {
		t.Errorf("Router = %+v\nwant     %+v", c.Router, wantRouter)
	}
	blueHealth := HealthCheck{Path: "/healthz", Status: 204, Interval: 5 * time.Second, Timeout: 5 * time.Second,
		HealthyThreshold: 2, UnhealthyThreshold: 4}
	blue := Color{Branch: "2024", Upstreams: []string{"127.0.0.1:9001", "[::1]:9001", "app-blue.internal:8000"},
		Health: blueHealth}
	if !reflect.DeepEqual(*c.Colors[bluegreen.Blue], blue) {
		t.Errorf("blue = %+v\nwant   %+v", *c.Colors[bluegreen.Blue], blue)
	}
	// green merges blue's anchored health check and overrides the path.
	greenHealth := blueHealth
	greenHealth.Path = "/ready"
	green := Color{Branch: "true", Upstreams: []string{"127.0.0.1:9002", "[::1]:9002"}, Health: greenHealth}
	if !reflect.DeepEqual(*c.Colors[bluegreen.Green], green) {
		t.Errorf("green = %+v\nwant    %+v", *c.Colors[bluegreen.Green], green)
	}
}

func TestExampleParses(t *testing.T) {
	c, err := Parse("bluegreen.yaml", []byte(Example()))
	if err != nil {
		t.Fatalf("Example does not parse:\n%v", err)
	}
	if c.App != nil || c.Colors[bluegreen.Blue].Ports != nil {
		t.Errorf("Example has an active app section: App = %+v, blue ports %v", c.App, c.Colors[bluegreen.Blue].Ports)
	}
	if c.Router != DefaultRouter() {
		t.Errorf("Example router = %+v, want the defaults %+v", c.Router, DefaultRouter())
	}
	if c.Listen != "127.0.0.1:8080" || c.Colors[bluegreen.Blue].Upstreams[0] != "127.0.0.1:9001" ||
		c.Colors[bluegreen.Green].Health.Path != "/healthz" || c.InitialLive != bluegreen.Blue {
		t.Errorf("Example = %+v", c)
	}
	// Every key the schema knows appears in the example, so it documents them all.
	for _, key := range []string{"listen:", "preview:", "api:", "state:", "initial_live:", "router:",
		"color_path:", "color_header:", "drain_timeout:", "read_header_timeout:", "idle_timeout:", "body_timeout:",
		"connect_timeout:", "max_request_body:", "trust_forwarded_headers:", "blue:", "green:", "branch:",
		"upstreams:", "health:", "path:", "status:", "interval:", "timeout:", "healthy_threshold:",
		"unhealthy_threshold:", "app:", "repo:", "driver:", "run:", "build:", "env:", "start_timeout:",
		"stop_grace:", "keep_releases:", "command:", "deploy:", "stop:", "hooks:", "pre_deploy:",
		"post_deploy:", "pre_switch:", "post_switch:", "port:", "ports:", "state_tls:", "state_auth:", "data_dir:"} {
		if !strings.Contains(Example(), key) {
			t.Errorf("Example lacks %s", key)
		}
	}
}

const minimal = `listen: 127.0.0.1:0
preview: 127.0.0.1:0
api: 127.0.0.1:0
blue: {branch: blue, upstreams: [127.0.0.1:9001]}
green: {branch: green, upstreams: [127.0.0.1:9002]}
`

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1024": 1024, "10MiB": 10 << 20, "1KB": 1000, "512 KiB": 512 << 10,
		"1GB": 1e9, "2GiB": 2 << 30, "3MB": 3e6, "7B": 7, "\"4096\"": 4096,
	} {
		c, err := Parse("s.yaml", []byte(minimal+"router: {max_request_body: "+in+"}\n"))
		if err != nil {
			t.Errorf("max_request_body %s: %v", in, err)
			continue
		}
		if c.Router.MaxRequestBody != want {
			t.Errorf("max_request_body %s = %d, want %d", in, c.Router.MaxRequestBody, want)
		}
	}
	for _, in := range []string{"10mb", "1.5MiB", "MiB", "-1KiB", "99999999999GiB", "1TB", "true"} {
		if _, err := Parse("s.yaml", []byte(minimal+"router: {max_request_body: "+in+"}\n")); err == nil {
			t.Errorf("max_request_body %s: no error", in)
		} else if !strings.Contains(err.Error(), "router.max_request_body") {
			t.Errorf("max_request_body %s: error %q does not name the key", in, err)
		}
	}
}

func TestParseWithoutFileName(t *testing.T) {
	c, err := Parse("", []byte(minimal+"state: data\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := abs(t, "data"); c.StateDir != want || c.File != "" {
		t.Errorf("StateDir = %q, File = %q; want %q relative to the working directory", c.StateDir, c.File, want)
	}
	_, err = Parse("", []byte("listen: x\n"))
	if err == nil || !strings.Contains(err.Error()+"\n", "\n1:9: listen: \"x\" is not host:port\n") {
		t.Errorf("error = %v, want a line with the position and no file name", err)
	}
}

func TestAbsoluteStateDirIsKept(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bluegreen.yaml")
	state := filepath.Join(dir, "elsewhere", "state")
	if err := os.WriteFile(path, []byte(minimal+"state: "+state+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := mustLoad(t, path); c.StateDir != state {
		t.Errorf("StateDir = %q, want %q", c.StateDir, state)
	}
}

func TestPortZeroListenersDoNotClash(t *testing.T) {
	c, err := Parse("p.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:0" || c.Preview != "127.0.0.1:0" || c.API != "127.0.0.1:0" {
		t.Errorf("listeners = %q %q %q", c.Listen, c.Preview, c.API)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such.yaml")
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}
	if got, want := err.Error(), "testdata/no-such.yaml: config file not found"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if code := bluegreen.ErrorCode(err); code != bluegreen.EINVALID {
		t.Errorf("ErrorCode = %q, want %q", code, bluegreen.EINVALID)
	}
}

func TestLoadDirectory(t *testing.T) {
	_, err := Load("testdata")
	if err == nil || !strings.HasPrefix(err.Error(), "testdata: cannot read config file: ") {
		t.Errorf("error = %v, want a read error naming the path", err)
	}
}

func TestFlowStyleAddresses(t *testing.T) {
	// goccy/go-yaml v1.19.2 splits 127.0.0.1:9001 into a mapping inside
	// nested flow collections; the decoder takes it back as text.
	c, err := Parse("f.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Colors[bluegreen.Green].Upstreams; len(got) != 1 || got[0] != "127.0.0.1:9002" {
		t.Errorf("green upstreams = %q", got)
	}
	// With a space after the colon it really is a mapping, and an error.
	_, err = Parse("f.yaml", []byte(strings.Replace(minimal, "[127.0.0.1:9002]", "[127.0.0.1: 9002]", 1)))
	if err == nil || !strings.Contains(err.Error(), "green.upstreams[0]: want host:port, got a mapping") {
		t.Errorf("error = %v, want a type error for the mapping", err)
	}
}

func TestErrorsAreInspectable(t *testing.T) {
	_, err := Parse("x.yaml", []byte(minimal+"router: {idle_timeout: 10}\n"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(*Error) failed for %v", err)
	}
	if e.File != "x.yaml" || e.Line != 6 || e.Column != 24 || !strings.HasPrefix(e.Message, "router.idle_timeout: ") {
		t.Errorf("error = %+v", e)
	}
	if msg := bluegreen.ErrorMessage(err); msg != err.Error() {
		t.Errorf("ErrorMessage = %q, want the list's text %q", msg, err.Error())
	}
}

// FuzzParse checks that no input makes Parse panic or return both a config
// and an error, and that every error carries a position. The depth bound
// (MaxDepth) keeps every input cheap: deep seeds are among the corpus in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/bad", "testdata/good"} {
		files, _ := filepath.Glob(dir + "/*.yaml")
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(Example()))
	f.Add([]byte("a: " + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)))
	f.Add([]byte(strings.Repeat("- ", MaxDepth+1) + "x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v: want exactly one of them", c, err)
		}
		var list ErrorList
		if err != nil && (!errors.As(err, &list) || len(list) == 0) {
			t.Fatalf("error %T is not a non-empty ErrorList", err)
		}
		for _, e := range list {
			if e.Line < 1 || e.Column < 1 {
				t.Fatalf("error without a position: %q", e)
			}
		}
	})
}

func TestWebhooks(t *testing.T) {
	c := mustLoad(t, "testdata/good/webhooks.yaml")
	want := []Webhook{
		{Name: "slack-ops", URLEnv: "SLACK_WEBHOOK_URL", Format: "slack", On: []string{"switch", "rollback", "failure"},
			Timeout: 5 * time.Second, Retries: 2},
		{Name: "audit", URL: "https://audit.example.com/bluegreen", Format: "json", Timeout: 2 * time.Second,
			Headers: []Header{{"Authorization", "Bearer abc"}}},
	}
	if !reflect.DeepEqual(c.Webhooks, want) || c.APITLS != nil {
		t.Errorf("webhooks:\n got %#v\nwant %#v (api_tls %v)", c.Webhooks, want, c.APITLS)
	}
}

func TestDNSSection(t *testing.T) {
	c := mustLoad(t, "testdata/good/dns.yaml")
	want := &DNS{Provider: "rfc2136", Zone: "example.test.", Record: "app.example.test.", Type: "A", TTL: 30 * time.Second,
		Values:             map[bluegreen.Color][]string{bluegreen.Blue: {"192.0.2.10", "192.0.2.11"}, bluegreen.Green: {"192.0.2.20"}},
		Servers:            []string{"127.0.0.1:5301", "127.0.0.1:5302"},
		PropagationTimeout: 20 * time.Second, DrainMargin: 10 * time.Second,
		RFC2136: &RFC2136{Server: "127.0.0.1:5301", KeyName: "bluegreen-key.", KeyAlgorithm: "hmac-sha256",
			KeySecret: Secret{Env: "BLUEGREEN_TSIG_SECRET"}}}
	if c.SwitchMode != SwitchDNS || !reflect.DeepEqual(c.DNS, want) {
		t.Errorf("dns:\n got %s %#v\nwant %#v", c.SwitchMode, c.DNS, want)
	}
}

// TestDNSCloudProviders: the cloudflare and route53 providers are accepted
// by validation (they cannot be tested against their APIs here).
func TestDNSCloudProviders(t *testing.T) {
	cf := mustLoad(t, "testdata/good/dns_cloud.yaml")
	if cf.SwitchMode != SwitchBoth || cf.DNS.Provider != "cloudflare" || cf.DNS.Cloudflare == nil ||
		cf.DNS.Cloudflare.APIToken != (Secret{Env: "CF_API_TOKEN"}) || cf.DNS.Record != "api.example.com." {
		t.Errorf("cloudflare: %+v", cf.DNS)
	}
	r53 := mustLoad(t, "testdata/good/dns_route53.yaml")
	if r53.DNS.Provider != "route53" || r53.DNS.Route53 == nil || *r53.DNS.Route53 != (Route53{Region: "eu-west-1", HostedZoneID: "Z0123456789ABC"}) {
		t.Errorf("route53: %+v", r53.DNS)
	}
}

package demo

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/config"
)

// TestAppConfigParses: the builder's text is a valid configuration holding
// what it was given.
func TestAppConfigParses(t *testing.T) {
	text := AppConfig{Comment: "a test", Top: "watch: {enabled: false}\n", Repo: "/tmp/app repo",
		App: "  run: 'exec sleep 60'\n  start_timeout: 3s", BluePort: 20001, GreenPort: 20002}.YAML()
	if !strings.HasPrefix(text, "# a test\nlisten: 127.0.0.1:0\n") {
		t.Errorf("the text does not start with the comment and the listeners:\n%s", text)
	}
	cfg, err := config.Parse("bluegreen.yaml", []byte(text))
	if err != nil {
		t.Fatalf("%v in:\n%s", err, text)
	}
	if cfg.App.Repo != "/tmp/app repo" || cfg.Colors[bluegreen.Blue].Ports[0] != 20001 ||
		cfg.Colors[bluegreen.Green].Ports[0] != 20002 || cfg.Colors[bluegreen.Green].Branch != "green" {
		t.Errorf("parsed as repo %q, blue %+v, green %+v", cfg.App.Repo, cfg.Colors[bluegreen.Blue], cfg.Colors[bluegreen.Green])
	}
}

// TestSampleAppFailsEveryNth: the bad release's home page fails every Nth
// request while its health check passes.
func TestSampleAppFailsEveryNth(t *testing.T) {
	srv := httptest.NewServer(SampleApp("green", "v3", 2))
	defer srv.Close()
	get := func(path string) (int, string) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, `"color":"green","version":"v3"`) {
		t.Errorf("first GET /: %d %q", code, body)
	}
	if code, _ := get("/"); code != 500 {
		t.Errorf("second GET / with failEvery 2: %d, want 500", code)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("GET /healthz: %d %q", code, body)
	}
}

func TestFreePortSkipsGiven(t *testing.T) {
	given := map[int]bool{}
	for range 20 {
		p, err := FreePort(given)
		if err != nil {
			t.Fatal(err)
		}
		if given[p] {
			t.Fatalf("FreePort handed out %d twice", p)
		}
		given[p] = true
	}
}

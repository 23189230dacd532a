package notify

import (
	"net/url"
	"testing"
)

// TestShownHost: records show IPs and two-label names whole, and only the
// last two labels of longer names (some services put a secret there).
func TestShownHost(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:8080/x":                "127.0.0.1:8080",
		"https://[::1]:9/x":                      "[::1]:9",
		"https://example.com/hook":               "example.com",
		"https://hooks.slack.com/services/T/B/X": "….slack.com",
		"https://abc123secret.m.pipedream.net/":  "….pipedream.net",
		"https://a.b.example.org:8443/p":         "….example.org:8443",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := shownHost(u); got != want {
			t.Errorf("shownHost(%s) = %q, want %q", raw, got, want)
		}
	}
}

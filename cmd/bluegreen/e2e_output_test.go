package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestErrorsArePrintedOnce: an error comes out once, in one place: as a
// JSON object on stdout with -o json (stderr stays empty), as one line on
// stderr otherwise (stdout stays empty) (issue 23, finding 14c).
func TestErrorsArePrintedOnce(t *testing.T) {
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"switch", "purple"}, exitUsage},
		{[]string{"status", "--server", "127.0.0.1:1", "--token", "x"}, exitFailed},
	}
	for _, c := range cases {
		out, errOut, code := runCLI(t, append(c.args, "-o", "json")...)
		if code != c.code {
			t.Errorf("%v -o json: exit %d, want %d", c.args, code, c.code)
		}
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		dec := json.NewDecoder(strings.NewReader(out))
		if err := dec.Decode(&body); err != nil || body.Error.Code == "" || body.Error.Message == "" || dec.More() {
			t.Errorf("%v -o json: stdout %q is not one JSON error object (%v)", c.args, out, err)
		}
		if errOut != "" {
			t.Errorf("%v -o json: the error is printed twice: stdout %q and stderr %q", c.args, out, errOut)
		}

		out, errOut, code = runCLI(t, c.args...)
		if code != c.code || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "bluegreen: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and one line on stderr only", c.args, code, out, errOut, c.code)
		}
	}
}

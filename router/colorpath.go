package router

import (
	"net/http"
	"strconv"
)

// headerColor is the response header naming the color that answered.
const headerColor = "X-Bluegreen-Color"

// Precomputed answers and header values; shared read-only by all requests
// (a ResponseWriter copies header values when it writes them).
var (
	colorBody = [2][]byte{[]byte(`{"color":"blue"}`), []byte(`{"color":"green"}`)}
	colorLen  = [2][]string{
		{strconv.Itoa(len(colorBody[0]))},
		{strconv.Itoa(len(colorBody[1]))},
	}
	colorValue = [2][]string{{"blue"}, {"green"}}

	contentJSON  = []string{"application/json"}
	contentText  = []string{"text/plain; charset=utf-8"}
	noStore      = []string{"no-store"}
	nosniff      = []string{"nosniff"}
	allowGetHead = []string{"GET, HEAD"}
	connClose    = []string{"close"}

	methodNotAllowed = newErrorBody("bluegreen: method not allowed\n")
	connectRefused   = newErrorBody("bluegreen: CONNECT is not forwarded (this is a reverse proxy)\n")
	bodyTooLarge     = newErrorBody("bluegreen: request body too large\n")
	badRequestBody   = newErrorBody("bluegreen: the request body could not be read (malformed or cut short)\n")
	spoolFailed      = newErrorBody("bluegreen: the request body could not be buffered\n")
	slowRequestBody  = newErrorBody("bluegreen: the rest of the request body did not come in time\n")
)

// serveColor answers the color path with the live color: exactly
// {"color":"blue"} or {"color":"green"}.
func (rt *Router) serveColor(w http.ResponseWriter, req *http.Request) {
	live := rt.table.Load().live
	h := w.Header()
	h["Cache-Control"] = noStore
	if rt.opts.ColorHeader {
		h[headerColor] = colorValue[live]
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		h["Allow"] = allowGetHead
		h["Content-Type"] = contentText
		h["X-Content-Type-Options"] = nosniff
		h["Content-Length"] = methodNotAllowed.length
		w.WriteHeader(http.StatusMethodNotAllowed)
		w.Write(methodNotAllowed.body)
		return
	}
	h["Content-Type"] = contentJSON
	h["Content-Length"] = colorLen[live]
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		w.Write(colorBody[live])
	}
}

// writeError writes one of the router's own plain-text answers. closeConn
// asks the server to close the client connection afterwards (used when the
// request body was not read to its end).
func (rt *Router) writeError(w http.ResponseWriter, c colorIdx, status int, b errorBody, closeConn bool) {
	h := w.Header()
	h["Content-Type"] = contentText
	h["X-Content-Type-Options"] = nosniff
	h["Content-Length"] = b.length
	if rt.opts.ColorHeader {
		h[headerColor] = colorValue[c]
	}
	if closeConn {
		h["Connection"] = connClose
	}
	w.WriteHeader(status)
	w.Write(b.body)
}

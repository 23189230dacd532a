package daemon

import (
	"fmt"
	"net"

	"github.com/bluegreen/bluegreen/config"
)

// listenAll binds every address or none.
func listenAll(addrs ...string) ([]net.Listener, error) {
	names := []string{"listen", "preview", "api"}
	var lns []net.Listener
	for i, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("%s address %s: %w", names[i], a, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// isLoopback reports whether addr is a loopback address.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// closeAll closes each listener of lns that is not nil.
func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		if ln != nil {
			ln.Close()
		}
	}
}

// APIScheme is the API's URL scheme under cfg: "https" when it serves TLS,
// else "http".
func APIScheme(cfg *config.Config) string {
	if cfg.APITLS != nil {
		return "https"
	}
	return "http"
}

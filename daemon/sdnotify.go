package daemon

import (
	"net"
	"os"
)

// sdNotify sends state to the service manager that started serve, when
// there is one (systemd's NOTIFY_SOCKET; nothing otherwise): "READY=1" once
// serve serves, and "MAINPID=N" when a hand-over made process N the one to
// follow, so that a unit with Type=notify keeps running when the old serve
// exits. Errors are returned for the log; they change nothing else.
func sdNotify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:] // an abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

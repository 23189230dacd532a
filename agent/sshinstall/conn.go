package sshinstall

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is the refusal of a host whose key the known_hosts file
// does not list (Unknown), or lists with another key (a changed key: a
// reinstalled host, or someone in the middle). Install returns it before
// anything reaches the host.
type HostKeyError struct {
	// Addr is the host:port dialled; File the known_hosts file.
	Addr string
	File string
	// KeyType and Fingerprint (SHA256:...) are those of the key the host
	// showed.
	KeyType     string
	Fingerprint string
	// Unknown says File lists no key for Addr; otherwise Known lists the
	// keys it has for Addr ("file:line type fingerprint").
	Unknown bool
	Known   []string
}

func (e *HostKeyError) Error() string {
	if e.Unknown {
		return fmt.Sprintf("refusing %s: its host key (%s %s) is not in %s; check that fingerprint with the host's "+
			"administrator, add the key to %s (for example with ssh-keyscan), and install again; nothing was copied",
			e.Addr, e.KeyType, e.Fingerprint, e.File, e.File)
	}
	return fmt.Sprintf("refusing %s: its host key (%s %s) is not the one %s lists (%s); the host was reinstalled or "+
		"someone is in the middle: check the new fingerprint with the host's administrator before replacing the line; "+
		"nothing was copied", e.Addr, e.KeyType, e.Fingerprint, e.File, strings.Join(e.Known, "; "))
}

// connect dials addr, checks its host key against knownHosts and logs in
// as user. ctx bounds the dial and the handshake; the caller closes the
// client.
func connect(ctx context.Context, user, addr, identity, knownHosts string) (*ssh.Client, string, error) {
	check, err := knownhosts.New(knownHosts)
	if err != nil {
		return nil, "", fmt.Errorf("reading the known hosts file %s (it must list the host's key): %w", knownHosts, err)
	}
	auth, closeAuth, err := authMethod(identity)
	if err != nil {
		return nil, "", err
	}
	defer closeAuth()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("connecting to %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	algos, err := knownAlgorithms(check, addr, conn.RemoteAddr())
	if err != nil {
		conn.Close()
		return nil, "", err
	}
	var fingerprint string
	cfg := &ssh.ClientConfig{
		User: user,
		Auth: []ssh.AuthMethod{auth},
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			fingerprint = ssh.FingerprintSHA256(key)
			return hostKeyError(check(hostname, remote, key), addr, knownHosts, key)
		},
		HostKeyAlgorithms: algos,
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		var hk *HostKeyError
		switch {
		case errors.As(err, &hk):
			return nil, "", hk
		case ctx.Err() != nil:
			return nil, "", fmt.Errorf("connecting to %s: %w", addr, ctx.Err())
		}
		return nil, "", fmt.Errorf("logging in to %s as %s: %w", addr, user, err)
	}
	return ssh.NewClient(c, chans, reqs), fingerprint, nil
}

// hostKeyError turns knownhosts' verdict err on key into a HostKeyError.
func hostKeyError(err error, addr, file string, key ssh.PublicKey) error {
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return err // nil, or a revoked key
	}
	e := &HostKeyError{Addr: addr, File: file, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key),
		Unknown: len(ke.Want) == 0}
	for _, k := range ke.Want {
		e.Known = append(e.Known, fmt.Sprintf("%s:%d %s %s", k.Filename, k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key)))
	}
	return e
}

// knownAlgorithms returns the host key algorithms of the keys check knows
// for addr, so that the handshake asks the host for a key that can match
// (a host with an RSA and an ed25519 key, of which known_hosts lists one).
// It asks check about a throwaway key: the KeyError names the known keys.
// None known returns nil (the handshake then fails on the unknown key).
func knownAlgorithms(check ssh.HostKeyCallback, addr string, remote net.Addr) ([]string, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var ke *knownhosts.KeyError
	if !errors.As(check(knownhosts.Normalize(addr), remote, probe), &ke) {
		return nil, nil
	}
	var algos []string
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos, nil
}

// authMethod is the login with identity's key, or with the SSH agent's
// keys when identity is "". close ends the agent connection.
func authMethod(identity string) (m ssh.AuthMethod, close func(), err error) {
	if identity != "" {
		pem, err := os.ReadFile(identity)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the identity: %w", err)
		}
		signer, err := ssh.ParsePrivateKey(pem)
		var pp *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &pp):
			return nil, nil, fmt.Errorf("the identity %s is protected by a passphrase: add it to your ssh-agent (ssh-add) and leave the identity out", identity)
		case err != nil:
			return nil, nil, fmt.Errorf("reading the identity %s: %w", identity, err)
		}
		return ssh.PublicKeys(signer), func() {}, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, errors.New("no key to log in with: give an identity file, or run an ssh-agent (SSH_AUTH_SOCK is not set)")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("reaching the ssh-agent at SSH_AUTH_SOCK: %w", err)
	}
	return ssh.PublicKeysCallback(agent.NewClient(conn).Signers), func() { conn.Close() }, nil
}

//go:build linux

package main

// TLS and SASL for every Kafka client swarm makes: the nodes' consumers
// (clientOpts) and the supervisor's preflight. Everything that can be
// checked without a broker (files readable, PEMs parse, the client
// certificate matches its key, a known mechanism with a user and a password)
// is checked by validate, so a mistake is one line and exit 2 before any
// node is spawned. The password is never a flag: it comes from
// SWARM_SASL_PASSWORD (which nodes inherit) or from -sasl-password-file
// (whose path nodes are given), so it never shows in argv, and it is held in
// a type that prints as [redacted].

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// kafkaAuth is the TLS and SASL part of the config: the flags as given, and
// what load built from them.
type kafkaAuth struct {
	tls              bool
	tlsCA            string
	tlsCert          string
	tlsKey           string
	tlsServerName    string
	saslMechanism    string
	saslUser         string
	saslPasswordFile string
	// envPassword is SWARM_SASL_PASSWORD as parseConfig found it.
	envPassword *secret

	// Built by load.
	tlsConfig *tls.Config
	mechanism sasl.Mechanism
}

// secret holds a password. It is used through a pointer, so a config
// printed with %v or %+v shows an address, and String and LogValue say
// [redacted]: no formatting path prints the text.
type secret struct{ text string }

func (s *secret) String() string               { return "[redacted]" }
func (s *secret) GoString() string             { return "[redacted]" }
func (s *secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (s *secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

func (s *secret) value() string {
	if s == nil {
		return ""
	}
	return s.text
}

// bindFlags adds the TLS and SASL flags to fs.
func (a *kafkaAuth) bindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&a.tls, "tls", false, "connect to the brokers over TLS (implied by any other -tls-* flag)")
	fs.StringVar(&a.tlsCA, "tls-ca", "", "PEM `file` of CA certificates to verify the brokers with (default: the system's)")
	fs.StringVar(&a.tlsCert, "tls-cert", "", "PEM `file` of the client certificate (with -tls-key)")
	fs.StringVar(&a.tlsKey, "tls-key", "", "PEM `file` of the client certificate's private key (with -tls-cert)")
	fs.StringVar(&a.tlsServerName, "tls-server-name", "", "`name` the brokers' certificates must carry (default: the host dialled)")
	fs.StringVar(&a.saslMechanism, "sasl-mechanism", "", "SASL mechanism: plain | scram-sha-256 | scram-sha-512 (default: no SASL)")
	fs.StringVar(&a.saslUser, "sasl-user", "", "SASL user name (required with -sasl-mechanism)")
	fs.StringVar(&a.saslPasswordFile, "sasl-password-file", "", "`file` holding the SASL password (a trailing newline is ignored); default: the SWARM_SASL_PASSWORD variable")
}

// load checks every TLS and SASL setting that can be checked without a
// broker and builds the TLS config and the SASL mechanism. Each error names
// the flag. It reads the files again on every call, so a node started after
// a password file was rotated uses the new password.
func (a *kafkaAuth) load() error {
	a.tlsConfig, a.mechanism = nil, nil
	if err := a.loadTLS(); err != nil {
		return err
	}
	return a.loadSASL()
}

// loadTLS reads and checks the CA, client certificate and key files.
func (a *kafkaAuth) loadTLS() error {
	if a.tlsCA != "" || a.tlsCert != "" || a.tlsKey != "" || a.tlsServerName != "" {
		a.tls = true
	}
	if !a.tls {
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: a.tlsServerName}
	if strings.ContainsAny(a.tlsServerName, " \t\r\n/") {
		return flagErrorf("tls-server-name", "%q is not a host name", clipped(a.tlsServerName))
	}
	if a.tlsCA != "" {
		pool, err := loadCAs(a.tlsCA)
		if err != nil {
			return flagErrorf("tls-ca", "%v", err)
		}
		cfg.RootCAs = pool
	}
	switch {
	case a.tlsCert != "" && a.tlsKey == "":
		return &usageError{msg: "-tls-cert needs -tls-key: the client certificate's private key", flags: []string{"tls-cert", "tls-key"}}
	case a.tlsKey != "" && a.tlsCert == "":
		return &usageError{msg: "-tls-key needs -tls-cert: the client certificate for that key", flags: []string{"tls-cert", "tls-key"}}
	case a.tlsCert != "":
		certPEM, err := readInputFile(a.tlsCert, pemFileKind)
		if err != nil {
			return flagErrorf("tls-cert", "%v", err)
		}
		keyPEM, err := readInputFile(a.tlsKey, pemFileKind)
		if err != nil {
			return flagErrorf("tls-key", "%v", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return &usageError{
				msg:   fmt.Sprintf("-tls-cert %s, -tls-key %s: %s", clipped(a.tlsCert), clipped(a.tlsKey), oneLine(err.Error())),
				flags: []string{"tls-cert", "tls-key"},
			}
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	a.tlsConfig = cfg
	return nil
}

// loadCAs reads a PEM bundle strictly: at least one certificate, and every
// CERTIFICATE block must parse (x509.CertPool.AppendCertsFromPEM would skip
// a broken one silently). Text between blocks, as in the system bundles, is
// allowed.
func loadCAs(path string) (*x509.CertPool, error) {
	b, err := readInputFile(path, pemFileKind)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: holds a %q PEM block, want only CERTIFICATE blocks", clipped(path), clipped(block.Type))
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %s", clipped(path), n+1, clipLine(oneLine(err.Error()), maxErrorLine/2))
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate in it", clipped(path))
	}
	return pool, nil
}

// loadSASL checks the mechanism and reads user and password.
func (a *kafkaAuth) loadSASL() error {
	mech := strings.ToLower(strings.TrimSpace(a.saslMechanism))
	if mech == "" {
		switch {
		case a.saslUser != "":
			return &usageError{msg: "-sasl-user is set but -sasl-mechanism is not", flags: []string{"sasl-user", "sasl-mechanism"}}
		case a.saslPasswordFile != "":
			return &usageError{msg: "-sasl-password-file is set but -sasl-mechanism is not", flags: []string{"sasl-password-file", "sasl-mechanism"}}
		case a.envPassword.value() != "":
			return &usageError{msg: saslPasswordEnv + " is set but -sasl-mechanism is not", flags: []string{"sasl-mechanism"}}
		}
		return nil
	}
	switch mech {
	case "plain", "scram-sha-256", "scram-sha-512":
	default:
		return flagErrorf("sasl-mechanism", "must be plain, scram-sha-256 or scram-sha-512, got %q", clipped(a.saslMechanism))
	}
	a.saslMechanism = mech
	if a.saslUser == "" {
		return flagErrorf("sasl-user", "required with -sasl-mechanism %s", mech)
	}
	var pass string
	if a.saslPasswordFile != "" {
		b, err := readInputFile(a.saslPasswordFile, passwordFileKind)
		if err != nil {
			return flagErrorf("sasl-password-file", "%v", err)
		}
		pass = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if pass == "" {
			return flagErrorf("sasl-password-file", "%s holds no password", clipped(a.saslPasswordFile))
		}
	} else {
		pass = a.envPassword.value()
		if pass == "" {
			return &usageError{
				msg:   fmt.Sprintf("-sasl-mechanism %s needs a password: set %s or -sasl-password-file", mech, saslPasswordEnv),
				flags: []string{"sasl-mechanism"},
			}
		}
	}
	switch mech {
	case "plain":
		a.mechanism = plain.Auth{User: a.saslUser, Pass: pass}.AsMechanism()
	case "scram-sha-256":
		a.mechanism = scram.Auth{User: a.saslUser, Pass: pass}.AsSha256Mechanism()
	case "scram-sha-512":
		a.mechanism = scram.Auth{User: a.saslUser, Pass: pass}.AsSha512Mechanism()
	}
	return nil
}

// kgoOpts are the franz-go options for TLS and SASL, empty when neither is
// configured (or the config was never loaded).
func (a *kafkaAuth) kgoOpts() []kgo.Opt {
	var opts []kgo.Opt
	if a.tlsConfig != nil {
		// franz-go clones it and fills ServerName per broker when unset.
		opts = append(opts, kgo.DialTLSConfig(a.tlsConfig.Clone()))
	}
	if a.mechanism != nil {
		opts = append(opts, kgo.SASL(a.mechanism))
	}
	return opts
}

// nodeArgs renders the TLS and SASL flags that are set, for a node's argv.
// The password is not among them: a node reads the same
// -sasl-password-file, or inherits SWARM_SASL_PASSWORD.
func (a *kafkaAuth) nodeArgs() []string {
	var args []string
	if a.tls {
		args = append(args, "-tls=true")
	}
	for _, f := range []struct{ name, v string }{
		{"tls-ca", a.tlsCA}, {"tls-cert", a.tlsCert}, {"tls-key", a.tlsKey},
		{"tls-server-name", a.tlsServerName}, {"sasl-mechanism", a.saslMechanism},
		{"sasl-user", a.saslUser}, {"sasl-password-file", a.saslPasswordFile},
	} {
		if f.v != "" {
			args = append(args, "-"+f.name+"="+f.v)
		}
	}
	return args
}

// authWatch is a franz-go hook that notices the brokers rejecting our SASL
// credentials. A broker answers a bad password with
// SASL_AUTHENTICATION_FAILED, or (older brokers, kfake) by closing the
// connection in reply to SaslAuthenticate; franz-go retries the latter as a
// broken connection, so without this hook a wrong password would look like
// a flaky network until a timeout.
type authWatch struct {
	auth   *kafkaAuth
	onFail func() // called once, on the first failure; may be nil

	mu  sync.Mutex
	err error
}

var _ kgo.HookBrokerRead = (*authWatch)(nil)

// newAuthWatch watches a client's SASL exchanges and calls onFail when the
// broker rejects the login.
func newAuthWatch(a *kafkaAuth, onFail func()) *authWatch {
	return &authWatch{auth: a, onFail: onFail}
}

func (w *authWatch) OnBrokerRead(meta kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil || key != int16(kmsg.SASLAuthenticate) || w.auth.mechanism == nil {
		return
	}
	// Only a closed connection is a rejection; a timeout is not.
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		return
	}
	w.record(net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port))), "it closed the connection")
}

func (w *authWatch) record(broker, how string) {
	w.mu.Lock()
	first := w.err == nil
	if first {
		who := "the brokers"
		if broker != "" {
			who = "broker " + broker
		}
		w.err = fmt.Errorf("authentication failed: %s rejected SASL %s as user %q (%s); check -sasl-user and the password",
			who, strings.ToUpper(w.auth.saslMechanism), clipped(w.auth.saslUser), how)
	}
	w.mu.Unlock()
	if first && w.onFail != nil {
		w.onFail()
	}
}

// failed returns the authentication failure seen so far, or the one err
// stands for (a broker's SASL error code), or nil.
func (w *authWatch) failed(err error) error {
	if err != nil && w.auth.mechanism != nil {
		for _, code := range []*kerr.Error{kerr.SaslAuthenticationFailed, kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState} {
			if errors.Is(err, code) {
				w.record("", oneLine(err.Error()))
				break
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

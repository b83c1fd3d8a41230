//go:build linux

package main

// TLS and SASL against kfake, through the real binary: a broker that only
// speaks TLS with client certificates and only lets SASL users in, with a
// certificate authority the test makes. The swarm consumes over it with each
// mechanism; a wrong password is one clear line from the preflight, and a
// node whose password goes bad later fails and is restarted no faster than
// the backoff; every bad TLS or SASL setting is exit 2 before any spawn. The
// password never shows in logs, output, errors or a node's argv.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// brokerName is the only name in the test broker's certificate: clients
// dial 127.0.0.1, so they must be told it with -tls-server-name.
const brokerName = "broker.swarm.test"

// testPKI is a CA, a server certificate for brokerName, a client
// certificate, and a second, unrelated CA, all as PEM files in a temp dir.
type testPKI struct {
	dir                        string
	caFile, certFile, keyFile  string
	otherCAFile, serverKeyFile string
	serverTLS, clientTLS       *tls.Config
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	caCert, caKey := makeCert(t, "swarm test CA", nil, nil, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid = true, true
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	})
	srvCert, srvKey := makeCert(t, brokerName, caCert, caKey, func(c *x509.Certificate) {
		c.DNSNames = []string{brokerName}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	cliCert, cliKey := makeCert(t, "swarm", caCert, caKey, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	otherCA, _ := makeCert(t, "some other CA", nil, nil, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid = true, true
		c.KeyUsage = x509.KeyUsageCertSign
	})
	p.caFile = p.writePEM(t, "ca.pem", "CERTIFICATE", caCert.Raw)
	p.otherCAFile = p.writePEM(t, "other-ca.pem", "CERTIFICATE", otherCA.Raw)
	p.certFile = p.writePEM(t, "client.pem", "CERTIFICATE", cliCert.Raw)
	p.keyFile = p.writePEM(t, "client-key.pem", "PRIVATE KEY", pkcs8(t, cliKey))
	p.serverKeyFile = p.writePEM(t, "server-key.pem", "PRIVATE KEY", pkcs8(t, srvKey))

	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	p.serverTLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
	p.clientTLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{cliCert.Raw}, PrivateKey: cliKey}},
		RootCAs:      pool,
		ServerName:   brokerName,
		MinVersion:   tls.VersionTLS12,
	}
	return p
}

// makeCert makes a certificate signed by parent (self-signed when nil).
func makeCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, edit func(*x509.Certificate)) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	edit(tmpl)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func pkcs8(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *testPKI) writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	return writeTestFile(t, p.dir, name, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
}

// replaceFile swaps path's content in one rename, so a node starting at
// that moment reads the old password or the new one, never half of one.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// The passwords are distinctive so a leak anywhere is found by a substring
// search. Each mechanism has its own, so a client that sent another
// mechanism's password could not pass.
const (
	adminPassword  = "admin-pw-0b8e"
	plainPassword  = "plain-pw-Qx71"
	scram256Pass   = "scram256-pw-Lm42"
	scram512Pass   = "scram512-pw-Vd93"
	wrongPassword  = "wrong-pw-Hz05"
	saslTestUser   = "swarm"
	secureTopic    = "secure"
	secureRecords  = 300
	securePartsNum = 3
)

// newSecureBroker is kfake with TLS (client certificates required) and
// SASL: an admin superuser for the test itself and user "swarm" with a
// different password per mechanism.
func newSecureBroker(t *testing.T, p *testPKI) string {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(securePartsNum, secureTopic),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.TLS(p.serverTLS),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "admin", adminPassword),
		kfake.User("PLAIN", saslTestUser, plainPassword),
		kfake.User("SCRAM-SHA-256", saslTestUser, scram256Pass),
		kfake.User("SCRAM-SHA-512", saslTestUser, scram512Pass),
	)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// produceSecure writes records key-<from>..key-<to-1> as the admin, over TLS.
func produceSecure(t *testing.T, p *testPKI, addr, topic string, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.DialTLSConfig(p.clientTLS.Clone()),
		kgo.SASL(scram.Auth{User: "admin", Pass: adminPassword}.AsSha256Mechanism()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Key: []byte("key-" + strconv.Itoa(i)), Value: []byte("value-" + strconv.Itoa(i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce over TLS+SASL: %v", err)
	}
}

// tlsArgs are the TLS flags for the test broker: mutual TLS, by name.
func (p *testPKI) tlsArgs() []string {
	return []string{"-tls-ca=" + p.caFile, "-tls-cert=" + p.certFile, "-tls-key=" + p.keyFile, "-tls-server-name=" + brokerName}
}

// assertNoSecret fails if any output of s holds one of the passwords.
func assertNoSecret(t *testing.T, s *swarmProc, secrets ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []string
	for _, l := range s.logs {
		b, _ := json.Marshal(l)
		all = append(all, string(b))
	}
	all = append(append(all, s.stdout...), s.other...)
	for _, line := range all {
		for _, sec := range secrets {
			if strings.Contains(line, sec) {
				t.Errorf("the password %q leaked into the output: %s", sec, line)
			}
		}
	}
}

// Each SASL mechanism consumes every record over mutual TLS; a node's argv
// carries the TLS and SASL flags but never a password, nor does the output.
func TestEachSASLMechanismConsumesOverTLS(t *testing.T) {
	p := newTestPKI(t)
	addr := newSecureBroker(t, p)
	produceSecure(t, p, addr, secureTopic, 0, secureRecords)
	allSecrets := []string{adminPassword, plainPassword, scram256Pass, scram512Pass}

	for _, tc := range []struct {
		mech     string
		password string
		fromFile bool
	}{
		{"plain", plainPassword, false},
		{"scram-sha-256", scram256Pass, false},
		{"scram-sha-512", scram512Pass, true},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			args := swarmArgs(addr, "-nodes=2", "-topics="+secureTopic, "-group=g-"+tc.mech,
				"-sasl-mechanism="+tc.mech, "-sasl-user="+saslTestUser)
			args = append(args, p.tlsArgs()...)
			var env []string
			if tc.fromFile {
				args = append(args, "-sasl-password-file="+writeTestFile(t, t.TempDir(), "password", tc.password+"\n"))
			} else {
				env = []string{saslPasswordEnv + "=" + tc.password}
			}
			start := time.Now()
			s := startSwarmEnv(t, env, args...)
			pids := s.waitNodesReady(2, 0)
			// A node's argv is world-readable (ps, /proc/PID/cmdline):
			// it holds the TLS and SASL flags, never the password.
			for id, pid := range pids {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				if err != nil {
					t.Fatalf("read node %d argv: %v", id, err)
				}
				argv := strings.ReplaceAll(string(b), "\x00", " ")
				for _, want := range []string{"-sasl-mechanism=" + tc.mech, "-tls-server-name=" + brokerName} {
					if !strings.Contains(argv, want) {
						t.Errorf("node %d argv lacks %q: %s", id, want, argv)
					}
				}
				for _, sec := range allSecrets {
					if strings.Contains(argv, sec) {
						t.Errorf("node %d argv holds the password: %s", id, argv)
					}
				}
			}
			s.waitStdout(30*time.Second, fmt.Sprintf("all %d records over TLS+%s", secureRecords, tc.mech), func(lines []string) bool {
				return len(keysSeen(lines, secureTopic)) == secureRecords
			})
			t.Logf("%s over mutual TLS: %d records consumed by 2 nodes in %s", tc.mech, secureRecords, time.Since(start).Round(time.Millisecond))
			s.stopGracefully(20 * time.Second)
			seen := keysSeen(s.stdoutLines(), secureTopic)
			for i := 0; i < secureRecords; i++ {
				if seen["key-"+strconv.Itoa(i)] == 0 {
					t.Errorf("key-%d never printed", i)
				}
			}
			assertNoSecret(t, s, allSecrets...)
		})
	}
}

// A wrong password, an unknown user or an untrusted broker certificate is
// found by the supervisor's preflight: exit 1, one line, at once (not after
// -connect-timeout), nothing spawned, no password in it.
func TestBadLoginOrCertificateFailsAtPreflight(t *testing.T) {
	p := newTestPKI(t)
	addr := newSecureBroker(t, p)
	base := append([]string{"-bootstrap=" + addr, "-topics=" + secureTopic, "-connect-timeout=20s"}, p.tlsArgs()...)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"wrong-password", append([]string{"-sasl-mechanism=scram-sha-512", "-sasl-user=" + saslTestUser}, base...),
			[]string{saslPasswordEnv + "=" + wrongPassword}, []string{"authentication failed", "SCRAM-SHA-512", `"swarm"`}},
		{"wrong-password-plain", append([]string{"-sasl-mechanism=plain", "-sasl-user=" + saslTestUser}, base...),
			[]string{saslPasswordEnv + "=" + wrongPassword}, []string{"authentication failed", "PLAIN"}},
		{"another-mechanisms-password", append([]string{"-sasl-mechanism=scram-sha-256", "-sasl-user=" + saslTestUser}, base...),
			[]string{saslPasswordEnv + "=" + scram512Pass}, []string{"authentication failed", "SCRAM-SHA-256"}},
		{"unknown-user", append([]string{"-sasl-mechanism=scram-sha-512", "-sasl-user=mallory"}, base...),
			[]string{saslPasswordEnv + "=" + wrongPassword}, []string{"authentication failed", `"mallory"`}},
		{"untrusted-broker-certificate", []string{"-bootstrap=" + addr, "-topics=" + secureTopic, "-connect-timeout=20s",
			"-tls-ca=" + p.otherCAFile, "-tls-cert=" + p.certFile, "-tls-key=" + p.keyFile, "-tls-server-name=" + brokerName,
			"-sasl-mechanism=scram-sha-512", "-sasl-user=" + saslTestUser},
			[]string{saslPasswordEnv + "=" + scram512Pass}, []string{"reach brokers", "certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tc.env, append(tc.args, "-log-format=json")...)
			t.Logf("exit %d in %s: %q", r.code, r.elapsed.Round(time.Millisecond), r.stderr)
			assertExitLine(t, r, exitFailure, tc.want...)
			if r.elapsed > 5*time.Second {
				t.Errorf("took %s: a rejected login or certificate must not wait for -connect-timeout", r.elapsed)
			}
			for _, sec := range []string{wrongPassword, scram512Pass} {
				if strings.Contains(r.stderr+r.stdout, sec) {
					t.Errorf("the password leaked: %q", r.stderr)
				}
			}
		})
	}
}

// A password that goes bad after the preflight (here: the password file is
// rotated to a wrong one and the node is killed) makes the node fail with a
// clear error on each start, and the supervisor restarts it no faster than
// the crash-loop backoff: every delay at least the last one doubled, and no
// start before its delay ran out. Putting the right password back heals it
// on the next start.
func TestSASLWrongPasswordNodeBackoff(t *testing.T) {
	p := newTestPKI(t)
	addr := newSecureBroker(t, p)
	produceSecure(t, p, addr, secureTopic, 0, 10)
	pwFile := writeTestFile(t, t.TempDir(), "password", scram512Pass+"\n")
	args := swarmArgs(addr, "-nodes=1", "-topics="+secureTopic, "-group=g-backoff",
		"-sasl-mechanism=scram-sha-512", "-sasl-user="+saslTestUser, "-sasl-password-file="+pwFile)
	s := startSwarm(t, append(args, p.tlsArgs()...)...)
	pids := s.waitNodesReady(1, 0)
	s.waitStdout(20*time.Second, "the first records", func(lines []string) bool { return len(keysSeen(lines, secureTopic)) == 10 })

	replaceFile(t, pwFile, wrongPassword+"\n")
	from := s.logCount()
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	const failures = 3
	delays := waitBackoff(t, s, from, failures+1) // the kill, then the failures
	fails := s.matching(func(l logLine) bool {
		return l.role() == "node" && l.msg() == "app.stopped" && strings.Contains(l.str("err"), "authentication failed")
	})
	if len(fails) < failures {
		t.Errorf("%d nodes said authentication failed, want %d", len(fails), failures)
	} else {
		t.Logf("node error: %s", fails[0].str("err"))
		t.Logf("restart delays: %s, %s, %s, %s", delays[0], delays[1], delays[2], delays[3])
	}
	for _, f := range s.matching(logged("swarm.node.exited", "node", 0))[1:] {
		if f.str("exit") != "exit 1" {
			t.Errorf("a node that could not log in exited %q, want exit status 1", f.str("exit"))
		}
	}

	// The right password again: the next start reads it and consumes.
	replaceFile(t, pwFile, scram512Pass+"\n")
	produceSecure(t, p, addr, secureTopic, 10, 20)
	s.waitStdout(30*time.Second, "records after the password was fixed", func(lines []string) bool {
		return len(keysSeen(lines, secureTopic)) == 20
	})
	s.signal(syscall.SIGTERM)
	if code := s.waitExit(20 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	assertNoSecret(t, s, scram512Pass, wrongPassword)
}

// waitBackoff waits, from log index from, for deaths deaths of node 0,
// each followed by a restart, and checks the crash-loop backoff: no
// restart before its delay ran out, every delay at least the last one
// doubled. It returns the delays.
func waitBackoff(t *testing.T, s *swarmProc, from, deaths int) []time.Duration {
	t.Helper()
	var delays []time.Duration
	i := from
	for len(delays) < deaths {
		l, j := s.waitLog(20*time.Second, "node 0 to exit", i, logged("swarm.node.exited", "node", 0))
		ns, ok := l["restart_in"].(float64) // slog's JSON: nanoseconds
		if !ok {
			t.Fatalf("exited line without restart_in: %v", l)
		}
		d := time.Duration(ns)
		delays = append(delays, d)
		// The next start must not come before the delay ran out.
		next, k := s.waitLog(20*time.Second, "node 0 restarted", j, logged("swarm.manager.before_fork", "node", 0))
		if gap := next.time().Sub(l.time()); gap < d-2*time.Millisecond {
			t.Errorf("restart %d came %s after the exit, before its delay %s", len(delays), gap, d)
		}
		i = k + 1
	}
	for n := 1; n < len(delays); n++ {
		if want := 2 * delays[n-1]; delays[n] < want {
			t.Errorf("delay %d is %s, want at least %s (doubling): the crash loop is not backing off", n, delays[n], want)
		}
	}
	return delays
}

// Every TLS or SASL setting that cannot work is exit 2 with one line naming
// the flag, before anything is spawned; no password is ever echoed.
func TestTLSAndSASLValidation(t *testing.T) {
	p := newTestPKI(t)
	dir := t.TempDir()
	garbage := writeTestFile(t, dir, "garbage.pem", "this is not PEM\n")
	brokenCert := writeTestFile(t, dir, "broken.pem", "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n")
	keyAsCA := p.keyFile
	emptyPw := writeTestFile(t, dir, "empty-password", "\n")
	noSuch := filepath.Join(dir, "no-such-file.pem")
	ok := []string{"-bootstrap=127.0.0.1:9092", "-topics=orders"}
	pwEnv := []string{saslPasswordEnv + "=" + wrongPassword}
	cases := []struct {
		name string
		args []string
		env  []string
		want []string
		bare bool // args alone, without the valid base
	}{
		{"cert-without-key", []string{"-tls-cert=" + p.certFile}, nil, []string{"-tls-cert", "-tls-key"}, false},
		{"key-without-cert", []string{"-tls-key=" + p.keyFile}, nil, []string{"-tls-key", "-tls-cert"}, false},
		{"cert-and-key-mismatch", []string{"-tls-cert=" + p.certFile, "-tls-key=" + p.serverKeyFile}, nil, []string{"-tls-cert", "-tls-key", "does not match"}, false},
		{"cert-bad-pem", []string{"-tls-cert=" + garbage, "-tls-key=" + p.keyFile}, nil, []string{"-tls-cert", "garbage.pem"}, false},
		{"key-bad-pem", []string{"-tls-cert=" + p.certFile, "-tls-key=" + garbage}, nil, []string{"-tls-key", "garbage.pem"}, false},
		{"cert-missing-file", []string{"-tls-cert=" + noSuch, "-tls-key=" + p.keyFile}, nil, []string{"-tls-cert", "no-such-file.pem"}, false},
		{"ca-missing-file", []string{"-tls-ca=" + noSuch}, nil, []string{"-tls-ca", "no-such-file.pem", "no such file"}, false},
		{"ca-not-pem", []string{"-tls-ca=" + garbage}, nil, []string{"-tls-ca", "no PEM certificate"}, false},
		{"ca-broken-certificate", []string{"-tls-ca=" + brokenCert}, nil, []string{"-tls-ca", "broken.pem"}, false},
		{"ca-is-a-key", []string{"-tls-ca=" + keyAsCA}, nil, []string{"-tls-ca", "PRIVATE KEY"}, false},
		{"ca-unreadable-dir", []string{"-tls-ca=" + dir}, nil, []string{"-tls-ca"}, false},
		{"server-name-space", []string{"-tls-server-name=a b"}, nil, []string{"-tls-server-name"}, false},
		{"mechanism-unknown", []string{"-sasl-mechanism=gssapi", "-sasl-user=u"}, pwEnv, []string{"-sasl-mechanism", "gssapi"}, false},
		{"mechanism-without-user", []string{"-sasl-mechanism=scram-sha-256"}, pwEnv, []string{"-sasl-user"}, false},
		{"mechanism-without-password", []string{"-sasl-mechanism=plain", "-sasl-user=u"}, nil, []string{"-sasl-mechanism", saslPasswordEnv, "-sasl-password-file"}, false},
		{"password-file-missing", []string{"-sasl-mechanism=plain", "-sasl-user=u", "-sasl-password-file=" + noSuch}, nil, []string{"-sasl-password-file", "no-such-file.pem"}, false},
		{"password-file-empty", []string{"-sasl-mechanism=plain", "-sasl-user=u", "-sasl-password-file=" + emptyPw}, nil, []string{"-sasl-password-file", "no password"}, false},
		{"user-without-mechanism", []string{"-sasl-user=u"}, pwEnv, []string{"-sasl-user", "-sasl-mechanism"}, false},
		{"password-file-without-mechanism", []string{"-sasl-password-file=" + emptyPw}, nil, []string{"-sasl-password-file", "-sasl-mechanism"}, false},
		{"password-without-mechanism", nil, pwEnv, []string{saslPasswordEnv, "-sasl-mechanism"}, false},
		{"env-mechanism-unknown", []string{"-sasl-user=u"}, append([]string{"SWARM_SASL_MECHANISM=kerberos"}, pwEnv...), []string{"SWARM_SASL_MECHANISM", "kerberos"}, false},
		{"env-tls-ca-missing", nil, []string{"SWARM_TLS_CA=" + noSuch}, []string{"SWARM_TLS_CA", "-tls-ca"}, false},
		{"demo-embedded-broker-with-tls", []string{"-demo", "-tls"}, nil, []string{"-demo", "-bootstrap"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{}, tc.args...)
			if !tc.bare {
				args = append(args, ok...)
			}
			r := runCLI(t, tc.env, args...)
			t.Logf("args %q -> exit %d: %q", tc.args, r.code, r.stderr)
			assertExitLine(t, r, exitUsage, tc.want...)
			if strings.Contains(r.stderr, wrongPassword) {
				t.Errorf("the password was echoed: %q", r.stderr)
			}
			if r.elapsed > 5*time.Second {
				t.Errorf("took %s to reject invalid usage", r.elapsed)
			}
		})
	}
}

// However a config is printed or passed on, the password is not in it.
func TestSASLPasswordNeverPrinted(t *testing.T) {
	p := newTestPKI(t)
	env := map[string]string{saslPasswordEnv: scram512Pass}
	cfg, err := parseConfig(append([]string{"-bootstrap=127.0.0.1:9092", "-topics=orders",
		"-sasl-mechanism=scram-sha-512", "-sasl-user=" + saslTestUser}, p.tlsArgs()...),
		func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.auth.mechanism == nil || cfg.auth.tlsConfig == nil {
		t.Fatal("TLS and SASL were not loaded")
	}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "password", cfg.auth.envPassword, "auth", cfg.auth)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "password", cfg.auth.envPassword, "auth", cfg.auth)
	for what, s := range map[string]string{
		"%v":       fmt.Sprintf("%v", cfg),
		"%+v":      fmt.Sprintf("%+v", cfg),
		"%#v":      fmt.Sprintf("%#v", cfg),
		"auth %+v": fmt.Sprintf("%+v", cfg.auth),
		"password": fmt.Sprint(cfg.auth.envPassword),
		"slog":     logged.String(),
		"nodeArgs": strings.Join(cfg.nodeArgs(), " "),
	} {
		if strings.Contains(s, scram512Pass) {
			t.Errorf("%s shows the password: %s", what, s)
		}
	}
	if !strings.Contains(logged.String(), "[redacted]") {
		t.Errorf("a logged password should read [redacted]: %s", logged.String())
	}
}

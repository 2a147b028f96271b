package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/phone"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "earshot test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// TestAgentOverTLS registers an agent over TLS, rings it with a customer
// call from the trunk (UDP), and checks that the INVITE reached it over
// TLS, that both hear each other, and that the agent's BYE over TLS ends
// the customer's call.
func TestAgentOverTLS(t *testing.T) {
	cfg := testConfig(t)
	certFile, keyFile, roots := selfSigned(t, t.TempDir())
	cfg.SIP.Listen = append(cfg.SIP.Listen, config.Listener{Transport: "tls", Address: "127.0.0.1:0",
		CertFile: certFile, KeyFile: keyFile})
	e := start(t, cfg)
	tlsAddr := e.app.SIPAddrs[2]

	agent, err := phone.NewTLS(phone.Config{IP: "127.0.0.3", User: "1001", Password: "demo", Tone: toneAgent,
		Server: tlsAddr}, roots, phone.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Close)
	if code, err := agent.Register(ctx(t), 600); err != nil || code != 200 {
		t.Fatalf("register over TLS: code %d err %v", code, err)
	}

	type ringing struct {
		via string
		s   *phone.Session
	}
	ch := make(chan ringing, 1)
	go func() {
		defer close(ch)
		in, err := agent.Next(ctx(t))
		if err != nil {
			return
		}
		via := ""
		if v := in.Req.Via(); v != nil {
			via = v.Transport
		}
		_ = in.Ring()
		if s, err := in.Answer(); err == nil {
			ch <- ringing{via, s}
		}
	}()
	cs, err := e.customer().Call(ctx(t), "100")
	if err != nil {
		t.Fatalf("customer call: %v", err)
	}
	r, ok := <-ch
	if !ok {
		t.Fatal("TLS agent did not answer")
	}
	if r.via != "TLS" {
		t.Errorf("INVITE reached the agent with Via transport %q, want TLS", r.via)
	}
	expectHears(t, "customer", cs, toneAgent)
	expectHears(t, "agent over TLS", r.s, toneCustomer)
	if err := r.s.Hangup(ctx(t)); err != nil {
		t.Fatalf("agent BYE over TLS: %v", err)
	}
	waitEnded(t, "customer", cs)
	waitActive(t, e, 0)
}

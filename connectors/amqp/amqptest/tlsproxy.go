package amqptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// PKI is a throw-away certificate authority with one server and one client
// certificate, written as PEM files into a test directory.
type PKI struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	// ServerName is the DNS name in the server certificate.
	ServerName string
	// ClientCN is the client certificate's common name.
	ClientCN string
	pool     *x509.CertPool
}

// NewPKI generates the CA and certificates.
func NewPKI(t testing.TB, serverName, clientCN string) *PKI {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert, caDER := newCert(t, nil, nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "dmzbridge test CA"},
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	})
	p := &PKI{ServerName: serverName, ClientCN: clientCN, pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	p.CA = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	sKey, _, sDER := newCert(t, caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: serverName},
		DNSNames:    []string{serverName},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.ServerCert = writePEM(t, dir, "server.pem", "CERTIFICATE", sDER)
	p.ServerKey = writeKey(t, dir, "server-key.pem", sKey)
	cKey, _, cDER := newCert(t, caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: clientCN},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	p.ClientCert = writePEM(t, dir, "client.pem", "CERTIFICATE", cDER)
	p.ClientKey = writeKey(t, dir, "client-key.pem", cKey)
	return p
}

func newCert(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = n
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parentKey, parent
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, der
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeKey(t testing.TB, dir, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "EC PRIVATE KEY", der)
}

// TLSProxy terminates mutual TLS in front of the local RabbitMQ: it
// accepts only clients presenting a certificate signed by the PKI's CA and
// forwards the AMQP bytes to 127.0.0.1:5672. It stands in for a RabbitMQ
// TLS listener, which the shared broker on this machine does not have.
type TLSProxy struct {
	Addr string
	ln   net.Listener

	mu         sync.Mutex
	clientCNs  []string
	handshakeE []error
	conns      map[net.Conn]struct{}
	wg         sync.WaitGroup
}

// StartTLSProxy listens on a random loopback port until the test ends.
func StartTLSProxy(t testing.TB, p *PKI, upstream string) *TLSProxy {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	px := &TLSProxy{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	px.wg.Add(1)
	go px.accept(upstream)
	t.Cleanup(px.Close)
	return px
}

func (px *TLSProxy) accept(upstream string) {
	defer px.wg.Done()
	for {
		c, err := px.ln.Accept()
		if err != nil {
			return
		}
		px.wg.Add(1)
		go func() {
			defer px.wg.Done()
			px.serve(c.(*tls.Conn), upstream)
		}()
	}
}

func (px *TLSProxy) serve(c *tls.Conn, upstream string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		px.mu.Lock()
		px.handshakeE = append(px.handshakeE, err)
		px.mu.Unlock()
		return
	}
	_ = c.SetDeadline(time.Time{})
	peer := c.ConnectionState().PeerCertificates
	up, err := net.DialTimeout("tcp", upstream, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	px.mu.Lock()
	px.clientCNs = append(px.clientCNs, peer[0].Subject.CommonName)
	px.conns[c] = struct{}{}
	px.conns[up] = struct{}{}
	px.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	px.mu.Lock()
	delete(px.conns, c)
	delete(px.conns, up)
	px.mu.Unlock()
}

// ClientCNs lists the verified client certificates' common names, one per
// accepted connection.
func (px *TLSProxy) ClientCNs() []string {
	px.mu.Lock()
	defer px.mu.Unlock()
	return append([]string(nil), px.clientCNs...)
}

// HandshakeErrors lists refused handshakes.
func (px *TLSProxy) HandshakeErrors() []error {
	px.mu.Lock()
	defer px.mu.Unlock()
	return append([]error(nil), px.handshakeE...)
}

// Close stops the proxy and cuts every connection through it.
func (px *TLSProxy) Close() {
	if err := px.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return
	}
	px.mu.Lock()
	for c := range px.conns {
		c.Close()
	}
	px.mu.Unlock()
	px.wg.Wait()
}

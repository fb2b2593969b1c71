package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"google.golang.org/grpc/credentials"
)

// certReloader serves the certificate (and client CA bundle) currently on
// disk: reload replaces them atomically, keeping the old ones when the new
// files do not load, so a half-written renewal never takes TLS down.
type certReloader struct {
	certFile, keyFile, caFile string

	cert  atomic.Pointer[tls.Certificate]
	cas   atomic.Pointer[x509.CertPool]
	stamp atomic.Value // string: the files' sizes and modification times
}

func newCertReloader(certFile, keyFile, caFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, caFile: caFile}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) reload() error {
	// Remember the files even when they fail to load: the next change, not
	// the next poll, is worth another try.
	r.stamp.Store(r.fileStamp())
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	var pool *x509.CertPool
	if r.caFile != "" {
		pem, err := os.ReadFile(r.caFile)
		if err != nil {
			return fmt.Errorf("client ca: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("client ca: no certificates found")
		}
	}
	r.cert.Store(&cert)
	r.cas.Store(pool)
	return nil
}

// changed reports whether the files differ from those last loaded.
func (r *certReloader) changed() bool {
	old, _ := r.stamp.Load().(string)
	return r.fileStamp() != old
}

func (r *certReloader) fileStamp() string {
	var s string
	for _, f := range []string{r.certFile, r.keyFile, r.caFile} {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil {
			s += fmt.Sprintf("%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return s
}

// credentials are gRPC server credentials that pick the current
// certificate and client CAs at each handshake.
func (r *certReloader) credentials() credentials.TransportCredentials {
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		cfg.Certificates = []tls.Certificate{*r.cert.Load()}
		if pool := r.cas.Load(); pool != nil {
			cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		return cfg, nil
	}
	return credentials.NewTLS(base)
}

// httpConfig is the TLS configuration of the HTTP listeners: the same
// certificate, picked at each handshake, and no client certificate asked
// (health probes and JWKS fetchers have none).
func (r *certReloader) httpConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cert.Load(), nil
		},
	}
}

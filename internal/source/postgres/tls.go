package postgres

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// TLSOptions add to the TLS settings of the connection string (whose
// sslmode decides whether TLS is used at all): a CA certificate to verify
// the server with (for example a cloud provider's bundle), a client
// certificate, and the server name to verify.
type TLSOptions struct {
	CACert     string // PEM
	ClientCert string // PEM
	ClientKey  string // PEM
	ServerName string
}

func (o TLSOptions) empty() bool {
	return o.CACert == "" && o.ClientCert == "" && o.ServerName == ""
}

// applyTLS applies o to every TLS configuration of cfg (its fallbacks
// included); connections without TLS (sslmode=disable) are left alone.
func applyTLS(cfg *pgconn.Config, o TLSOptions) error {
	if o.empty() {
		return nil
	}
	var roots *x509.CertPool
	if o.CACert != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(o.CACert)) {
			return errors.New("cacert: no PEM certificate found")
		}
	}
	var certs []tls.Certificate
	if o.ClientCert != "" || o.ClientKey != "" {
		c, err := tls.X509KeyPair([]byte(o.ClientCert), []byte(o.ClientKey))
		if err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
		certs = []tls.Certificate{c}
	}
	apply := func(t *tls.Config) {
		if t == nil {
			return
		}
		if roots != nil {
			t.RootCAs = roots
		}
		if certs != nil {
			t.Certificates = certs
		}
		if o.ServerName != "" {
			t.ServerName = o.ServerName
		}
	}
	apply(cfg.TLSConfig)
	for _, f := range cfg.Fallbacks {
		apply(f.TLSConfig)
	}
	return nil
}

package postgres

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
}

func TestApplyTLS(t *testing.T) {
	cert, key := selfSigned(t)
	cfg, err := pgconn.ParseConfig("postgres://u@db.internal/app?sslmode=verify-full")
	if err != nil {
		t.Fatal(err)
	}
	if err := applyTLS(cfg, TLSOptions{CACert: cert, ClientCert: cert, ClientKey: key, ServerName: "db.example.com"}); err != nil {
		t.Fatal(err)
	}
	tc := cfg.TLSConfig
	if tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "db.example.com" {
		t.Fatalf("tls config not applied: %+v", tc)
	}

	plain, err := pgconn.ParseConfig("postgres://u@h/app?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if err := applyTLS(plain, TLSOptions{CACert: cert}); err != nil || plain.TLSConfig != nil {
		t.Fatalf("sslmode=disable got TLS: %v %v", plain.TLSConfig, err)
	}
	if err := applyTLS(cfg, TLSOptions{CACert: "not a certificate"}); err == nil {
		t.Fatal("bad CA PEM accepted")
	}
	if err := applyTLS(cfg, TLSOptions{ClientCert: cert, ClientKey: "junk"}); err == nil {
		t.Fatal("bad client key accepted")
	}
}

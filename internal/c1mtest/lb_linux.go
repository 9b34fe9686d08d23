//go:build linux

package c1mtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TLSFiles is a throwaway certificate authority and a server certificate
// it signed for 127.0.0.1, ::1 and localhost, written to a test's temp
// directory (the keys never leave it).
type TLSFiles struct {
	CertFile string // the server certificate, PEM
	KeyFile  string // its private key, PEM
	PEMFile  string // certificate then key in one file (HAProxy's crt)
	// Pool holds the CA alone: a client that trusts it trusts the
	// server certificate and nothing else.
	Pool *x509.CertPool
}

// NewTLSFiles makes a CA and a server certificate valid for an hour.
func NewTLSFiles(tb testing.TB) TLSFiles {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "c1m test CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	dir := tb.TempDir()
	f := TLSFiles{
		CertFile: filepath.Join(dir, "cert.pem"),
		KeyFile:  filepath.Join(dir, "key.pem"),
		PEMFile:  filepath.Join(dir, "both.pem"),
		Pool:     x509.NewCertPool(),
	}
	f.Pool.AddCert(caCert)
	for name, b := range map[string][]byte{f.CertFile: certPEM, f.KeyFile: keyPEM, f.PEMFile: append(certPEM, keyPEM...)} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

// LBServer is one c1m node as a load balancer's configuration names it.
type LBServer struct {
	Addr        string // its WebSocket listener, host:port
	MetricsPort int    // its metrics listener's port (HAProxy's health check)
}

// HAProxyOptions says what RenderHAProxy puts in place of the shipped
// configuration's addresses and paths.
type HAProxyOptions struct {
	Bind    string // the frontend's address, host:port
	PEMFile string // the frontend's certificate and key
	Dir     string // for the chroot and the stats socket (Dir/admin.sock)
	Servers []LBServer
	// MaxConn replaces every maxconn when not 0: the shipped 1,000,000
	// makes HAProxy raise its open-files limit to about 2,000,000 at
	// start, which a test box may not allow.
	MaxConn int
}

// RenderHAProxy rewrites the shipped HAProxy configuration for a test:
// the frontend's bind address and certificate, the chroot and stats
// socket paths, the server lines (one per o.Servers, named node1, node2,
// ... with the shipped server line's form "server NAME ADDR port P"), and
// maxconn when asked. Everything else stays as shipped. It fails tb if
// the shipped file no longer has a line it must rewrite, so that a test
// can never run a production path or address by mistake.
func RenderHAProxy(tb testing.TB, shipped string, o HAProxyOptions) string {
	tb.Helper()
	var out []string
	seen := map[string]int{}
	for _, line := range strings.Split(shipped, "\n") {
		f := strings.Fields(line)
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			out = append(out, line)
			continue
		}
		switch {
		case f[0] == "bind":
			f[1] = o.Bind
			for i := 2; i+1 < len(f); i++ {
				if f[i] == "crt" {
					f[i+1] = o.PEMFile
					seen["crt"]++
				}
			}
			seen["bind"]++
		case f[0] == "chroot":
			f[1] = o.Dir
			seen["chroot"]++
		case f[0] == "stats" && len(f) > 2 && f[1] == "socket":
			f[2] = filepath.Join(o.Dir, "admin.sock")
			seen["stats"]++
		case f[0] == "maxconn" && o.MaxConn > 0:
			f[1] = fmt.Sprint(o.MaxConn)
		case f[0] == "server":
			if len(f) != 5 || f[3] != "port" {
				tb.Fatalf("shipped HAProxy server line %q: want \"server NAME ADDR port P\"", line)
			}
			if seen["server"] == 0 {
				for i, s := range o.Servers {
					out = append(out, fmt.Sprintf("%sserver node%d %s port %d", indent, i+1, s.Addr, s.MetricsPort))
				}
			}
			seen["server"]++
			continue
		}
		out = append(out, indent+strings.Join(f, " "))
	}
	for _, k := range []string{"bind", "crt", "chroot", "stats", "server"} {
		if seen[k] == 0 {
			tb.Fatalf("the shipped HAProxy configuration has no %s line to rewrite", k)
		}
	}
	return strings.Join(out, "\n")
}

// NginxOptions says what RenderNginx puts in place of the shipped
// configuration's addresses and paths.
type NginxOptions struct {
	Listen   string // the server's listen address, host:port
	CertFile string
	KeyFile  string
	Dir      string // for the pid file and the error log
	Servers  []string
}

// RenderNginx rewrites the shipped nginx configuration for a test the
// way RenderHAProxy does: listen address, certificate and key, pid and
// error log paths, and the upstream's server lines (keeping the shipped
// line's parameters). It fails tb if a line it must rewrite is missing.
func RenderNginx(tb testing.TB, shipped string, o NginxOptions) string {
	tb.Helper()
	var out []string
	seen := map[string]int{}
	for _, line := range strings.Split(shipped, "\n") {
		f := strings.Fields(line)
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			out = append(out, line)
			continue
		}
		semi := func(v string) string { return v + ";" }
		switch f[0] {
		case "listen":
			f[1] = o.Listen
		case "ssl_certificate":
			f[1] = semi(o.CertFile)
		case "ssl_certificate_key":
			f[1] = semi(o.KeyFile)
		case "pid":
			f[1] = semi(filepath.Join(o.Dir, "nginx.pid"))
		case "error_log":
			f[1] = filepath.Join(o.Dir, "error.log")
		case "server":
			if !strings.Contains(f[1], ":") {
				out = append(out, line) // a server block, not an upstream's server
				continue
			}
			if seen["server"] == 0 {
				for _, s := range o.Servers {
					g := append([]string{"server", s}, f[2:]...)
					out = append(out, indent+strings.Join(g, " "))
				}
			}
			seen["server"]++
			continue
		default:
			out = append(out, line)
			continue
		}
		seen[f[0]]++
		out = append(out, indent+strings.Join(f, " "))
	}
	for _, k := range []string{"listen", "ssl_certificate", "ssl_certificate_key", "pid", "error_log", "server"} {
		if seen[k] == 0 {
			tb.Fatalf("the shipped nginx configuration has no %s line to rewrite", k)
		}
	}
	return strings.Join(out, "\n")
}

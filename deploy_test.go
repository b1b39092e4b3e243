package main

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
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The deployment files docs/deploy.md shows, committed beside it so that
// people can copy them and tests can check them.
const (
	deployDoc   = "docs/deploy.md"
	nginxConf   = "docs/deploy/nginx-keyward.conf"
	systemdUnit = "docs/deploy/keyward.service"
)

// TestDeployDocEmbedsConfigFiles holds docs/deploy.md to the committed
// files: each must appear in it as one fenced block, byte for byte, so the
// configuration people read is the one nginx -t and systemd-analyze check.
func TestDeployDocEmbedsConfigFiles(t *testing.T) {
	doc, err := os.ReadFile(deployDoc)
	if err != nil {
		t.Fatal(err)
	}
	blocks := fencedBlocks(string(doc))
	for _, file := range []string{nginxConf, systemdUnit} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range blocks {
				if b == string(want) {
					return
				}
			}
			t.Errorf("%s: got no fenced block equal to %s (%d blocks), want one: copy the file into the document", deployDoc, file, len(blocks))
		})
	}
}

// fencedBlocks returns the contents of the ``` blocks of a Markdown text,
// each ending in a newline like the file it shows.
func fencedBlocks(md string) []string {
	var blocks []string
	var cur strings.Builder
	in := false
	for line := range strings.SplitSeq(md, "\n") {
		switch {
		case strings.HasPrefix(line, "```") && !in:
			in = true
			cur.Reset()
		case strings.HasPrefix(line, "```") && in:
			in = false
			blocks = append(blocks, cur.String())
		case in:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// TestDeployNginxConfigParses runs `nginx -t` on the documented nginx
// configuration, as an http-context include of a minimal nginx.conf. Only
// what a test machine cannot have is changed: the certificate paths (a
// self-signed certificate is made) and the listen addresses (free loopback
// ports, since nginx -t binds them). Skipped where nginx is not installed.
func TestDeployNginxConfigParses(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			t.Skip("nginx is not installed: apt-get install nginx to check docs/deploy/nginx-keyward.conf")
		}
		nginx = "/usr/sbin/nginx"
	}
	src, err := os.ReadFile(nginxConf)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeSelfSigned(t, dir)
	site := string(src)
	for _, r := range []struct{ old, new string }{
		{"/etc/ssl/keyward/", dir + "/"},
		{"listen 443 ssl;", "listen 127.0.0.1:" + freePort(t) + " ssl;"},
		{"listen [::]:443 ssl;", ""},
		{"listen 80;", "listen 127.0.0.1:" + freePort(t) + ";"},
		{"listen [::]:80;", ""},
	} {
		if !strings.Contains(site, r.old) {
			t.Fatalf("%s: got no %q, want it (the test replaces it)", nginxConf, r.old)
		}
		site = strings.ReplaceAll(site, r.old, r.new)
	}
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o600); err != nil {
		t.Fatal(err)
	}
	main := strings.NewReplacer("DIR", dir).Replace(`pid DIR/nginx.pid;
error_log DIR/error.log;
events {}
http {
    access_log off;
    client_body_temp_path DIR/tmp;
    proxy_temp_path DIR/tmp;
    fastcgi_temp_path DIR/tmp;
    uwsgi_temp_path DIR/tmp;
    scgi_temp_path DIR/tmp;
    include DIR/site.conf;
}
`)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginx, "-e", filepath.Join(dir, "error.log"), "-t", "-p", dir, "-c", conf).CombinedOutput() // #nosec G204 -- nginx from PATH on a file this test wrote
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	t.Logf("nginx -t: %s", strings.TrimSpace(string(out)))
}

// TestDeploySystemdUnitVerifies runs `systemd-analyze verify` on the
// documented unit, with ExecStart pointed at an executable that exists here
// (it checks that it does). Skipped where systemd-analyze is not installed.
func TestDeploySystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	src, err := os.ReadFile(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const exec0 = "ExecStart=/usr/local/bin/keyward "
	if !strings.Contains(string(src), exec0) {
		t.Fatalf("%s: got no %q, want it (the test replaces it)", systemdUnit, exec0)
	}
	unit := filepath.Join(t.TempDir(), "keyward.service")
	body := strings.Replace(string(src), exec0, "ExecStart="+self+" ", 1)
	if err := os.WriteFile(unit, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput() // #nosec G204 -- systemd-analyze from PATH on a file this test wrote
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: got error %v and output %q, want neither", err, out)
	}
}

// freePort returns a loopback TCP port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// writeSelfSigned writes fullchain.pem and privkey.pem for the documented
// server names into dir.
func writeSelfSigned(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "keys.example.com"},
		DNSNames:     []string{"keys.example.com", "api.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"fullchain.pem": {Type: "CERTIFICATE", Bytes: der},
		"privkey.pem":   {Type: "PRIVATE KEY", Bytes: pkcs8},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp)
// for tests: STARTTLS, implicit TLS or plain, with a certificate from a
// CA made for the test, PLAIN authentication, and recipients or messages
// refused on demand. Tests of package notify and of package web use it to
// receive what Keyward sends and parse it as a mail client would.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options shape the server. The zero value is a STARTTLS server that
// accepts everything without authentication.
type Options struct {
	// TLS is "starttls" (default), "tls" (implicit) or "none".
	TLS string
	// User and Password, when set, are required (AUTH PLAIN).
	User, Password string
	// UntrustedCert makes the server present a certificate of a CA that
	// Pool does not hold: a client verifying certificates must refuse it.
	UntrustedCert bool
}

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	// User is who authenticated ("" when nobody did).
	User string
	Data []byte
}

// Server is a running SMTP server; it stops when the test ends.
type Server struct {
	addr *net.TCPAddr
	pool *x509.CertPool

	mu       sync.Mutex
	msgs     []Message
	rcptErr  func(to string) error
	dataErr  error
	arrived  chan struct{}
	sessions int
}

// Start runs a server on a loopback port until t ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	pool, trusted := testCA(t)
	cert := trusted
	if o.UntrustedCert {
		_, cert = testCA(t)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s := &Server{pool: pool, arrived: make(chan struct{}, 1)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		return &session{s: s, o: o}, nil
	}))
	srv.Domain = "smtp.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = discardLog{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	switch o.TLS {
	case "tls":
		l = tls.NewListener(l, tlsConfig)
	case "none":
		// A local relay: authentication in clear text is its choice.
		srv.AllowInsecureAuth = true
	default:
		srv.TLSConfig = tlsConfig
	}
	s.addr = l.Addr().(*net.TCPAddr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l) // returns when Close is called
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return s
}

// Host is the address to dial: 127.0.0.1, which the certificate names.
func (s *Server) Host() string { return s.addr.IP.String() }

// Port is the server's port.
func (s *Server) Port() int { return s.addr.Port }

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host(), strconv.Itoa(s.Port())) }

// Pool holds the CA of the server's certificate (unless UntrustedCert).
func (s *Server) Pool() *x509.CertPool { return s.pool }

// Sessions is how many connections the server has taken.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// RefuseRcpt makes the server answer RCPT TO with fn's error (an
// *smtp.SMTPError such as 550 or 451); nil accepts every recipient again.
func (s *Server) RefuseRcpt(fn func(to string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptErr = fn
}

// RefuseData makes the server answer the end of DATA with err (nil:
// accept).
func (s *Server) RefuseData(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataErr = err
}

// Messages returns what the server accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait returns the accepted messages once there are at least n, or fails
// t after timeout.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if got := s.Messages(); len(got) >= n {
			return got
		}
		select {
		case <-s.arrived:
		case <-deadline.C:
			t.Fatalf("smtptest: got %d messages after %v, want %d", len(s.Messages()), timeout, n)
			return nil
		}
	}
}

// Refusal is an SMTP error reply for RefuseRcpt and RefuseData.
func Refusal(code int, enhanced [3]int, text string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode(enhanced), Message: text}
}

type session struct {
	s    *Server
	o    Options
	user string
	msg  Message
}

func (ss *session) AuthMechanisms() []string {
	if ss.o.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.o.User || pass != ss.o.Password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.o.User != "" && ss.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	ss.msg = Message{From: from, User: ss.user}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	fn := ss.s.rcptErr
	ss.s.mu.Unlock()
	if fn != nil {
		if err := fn(to); err != nil {
			return err
		}
	}
	ss.msg.To = append(ss.msg.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.dataErr != nil {
		return ss.s.dataErr
	}
	ss.msg.Data = b
	ss.s.msgs = append(ss.s.msgs, ss.msg)
	select {
	case ss.s.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (ss *session) Reset()        { ss.msg = Message{User: ss.user} }
func (ss *session) Logout() error { return nil }

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

// testCA makes a CA and a certificate it signs for 127.0.0.1 and
// localhost, valid for a day.
func testCA(t testing.TB) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("smtptest: CA key: %v", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtptest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("smtptest: CA: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("smtptest: CA: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("smtptest: key: %v", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Stall is a server that hangs: it accepts connections and never greets.
type Stall struct {
	Addr *net.TCPAddr

	mu    sync.Mutex
	conns []net.Conn
}

// Accepted is how many connections it has taken.
func (s *Stall) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Stalling listens on a loopback port and accepts connections without
// ever greeting, until t ends: for timeout tests.
func Stalling(t testing.TB) *Stall {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s := &Stall{Addr: l.Addr().(*net.TCPAddr)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.conns {
			_ = c.Close()
		}
	})
	return s
}

// Parsed is a message as a mail client shows it.
type Parsed struct {
	Header mail.Header
	// Subject is the decoded Subject header.
	Subject string
	// Text and HTML are the decoded bodies of the two alternatives.
	Text, HTML string
}

// Parse reads a multipart/alternative message: its headers and both
// parts, undoing the transfer encodings.
func Parse(data []byte) (Parsed, error) {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return Parsed{}, fmt.Errorf("smtptest: parse: %w", err)
	}
	p := Parsed{Header: m.Header}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		return Parsed{}, fmt.Errorf("smtptest: subject: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		return Parsed{}, fmt.Errorf("smtptest: content type %q, want multipart/alternative (%v)", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Parsed{}, fmt.Errorf("smtptest: part: %w", err)
		}
		var r io.Reader = part // quoted-printable is decoded by NextPart
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
			r = base64.NewDecoder(base64.StdEncoding, part)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			return Parsed{}, fmt.Errorf("smtptest: part: %w", err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.Text = string(body)
		case "text/html":
			p.HTML = string(body)
		}
	}
	if p.Text == "" || p.HTML == "" {
		return p, fmt.Errorf("smtptest: got text %d bytes, HTML %d bytes: %w", len(p.Text), len(p.HTML), errNoPart)
	}
	return p, nil
}

// errNoPart: a message lacks one of its two parts.
var errNoPart = errors.New("smtptest: a part is missing")

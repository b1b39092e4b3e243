// Command profserve is Keyward's server wired the way `keyward serve` wires
// it (db.Open, a Verifier with its flush loop, web.New, the background jobs),
// plus net/http/pprof on a second loopback port. It exists only for
// profiling under load: the production binary carries no pprof.
//
//	profserve -db bench/out/verify.db -addr 127.0.0.1:18080 -pprof 127.0.0.1:18081
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux, served only on -pprof
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keyward/keyward/db"
	"github.com/keyward/keyward/web"
)

func main() {
	path := flag.String("db", "", "database file")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	pprofAddr := flag.String("pprof", "127.0.0.1:0", "pprof listen address (loopback)")
	proxy := flag.String("trusted-proxy", "127.0.0.1/32", "trusted proxy network")
	flag.Parse()
	if err := run(*path, *addr, *pprofAddr, *proxy); err != nil {
		fmt.Fprintf(os.Stderr, "profserve: %v\n", err)
		os.Exit(1)
	}
}

func run(path, addr, pprofAddr, proxy string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pp, err := netip.ParseAddrPort(pprofAddr)
	if err != nil || !pp.Addr().IsLoopback() {
		return fmt.Errorf("-pprof %q must be a loopback address with a port", pprofAddr)
	}
	prefix, err := netip.ParsePrefix(proxy)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	verifier := db.NewVerifier(store, db.VerifierOptions{Logger: logger})
	vctx, stopVerifier := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); verifier.Run(vctx) }()
	defer func() { stopVerifier(); <-done }()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv, err := web.New(web.Config{Addr: ln.Addr().String(), TrustedProxies: []netip.Prefix{prefix}, Logger: logger}, store, verifier)
	if err != nil {
		return err
	}
	go srv.RunJobs(ctx)

	pln, err := net.Listen("tcp", pprofAddr)
	if err != nil {
		return err
	}
	psrv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = psrv.Serve(pln) }()
	defer psrv.Close()

	// The harness reads both addresses from the first line of stdout.
	fmt.Printf("http://%s http://%s\n", ln.Addr(), pln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

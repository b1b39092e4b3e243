// Command bare is the baseline of the verify benchmark: an Echo v4 server
// that answers POST /verify and GET /auth with 200 and a small JSON body,
// doing no work at all. It runs with the same http.Server settings as
// Keyward (web.Config's default timeouts and header limit), so the ratio of
// Keyward's throughput to this one is what Keyward's own work costs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

// body has the shape and about the size of Keyward's answer for a load key
// (owner_type and the metadata the seed gives every load key included), so
// both servers write the same bytes.
var body = []byte(`{"valid":true,"key":{"id":1,"name":"bare","owner":"bench@bench.test","owner_type":"user","scopes":[],"expires_at":null,` +
	`"meta":{"tenant":"t-0001","plan":"pro","limits":{"rps":100}}}}`)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	answer := func(c echo.Context) error { return c.JSONBlob(http.StatusOK, body) }
	e.POST("/verify", answer)
	e.GET("/auth", answer)
	e.GET("/healthz", answer)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bare: %v\n", err)
		os.Exit(1)
	}
	// The same values web.Config.setDefaults and web.New use.
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	// The harness reads the address from the first line of stdout.
	fmt.Printf("http://%s\n", ln.Addr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "bare: %v\n", err)
		os.Exit(1)
	}
}

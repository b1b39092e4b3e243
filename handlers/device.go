package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyward/keyward/db"
)

// Device cookies are OWASP's answer to account lockout as a weapon ("Slow
// Down Online Guessing Attacks with Device Cookies"). The per-account
// back-off slows everyone who types an account's email, the owner too, so
// anyone could keep an admin out by guessing once in a while. A browser
// that signed in to an account before carries a device cookie for it; the
// account's back-off does not apply to it, only a back-off of its own. So
// guessing from anywhere else stays as slow as before, the owner still gets
// in, and a stolen device cookie buys its thief one device's allowance of
// guesses, no more.
//
// The cookie is a version byte, its issue time, a random nonce (which
// names the device in the throttle) and an HMAC-SHA256 over those and the
// account (the SHA-256 of its normalised email) under a server secret. The
// account is bound by the signature rather than written out, so the cookie
// does not say whose it is: it is valid only for the email that is typed
// with it. The secret lives in the database (db.Store.ServerSecret), so
// cookies survive restarts and every instance accepts them.

const (
	deviceCookieBase = "kw_device"
	// deviceCookieAge is how long a device stays trusted after its last
	// sign-in: each sign-in issues a new cookie.
	deviceCookieAge  = 365 * 24 * time.Hour
	deviceSecretName = "device_cookie"
	deviceVersion    = 1
	// deviceMACLabel separates these signatures from any other use of an
	// HMAC key.
	deviceMACLabel = "keyward device cookie\x00"
)

// deviceID is a device cookie's random nonce.
type deviceID [16]byte

// The cookie's bytes: version, issue time (Unix seconds, big-endian),
// nonce, then the HMAC of all that and the account.
const (
	deviceTimeAt     = 1
	deviceNonceAt    = deviceTimeAt + 8
	devicePayloadLen = deviceNonceAt + len(deviceID{})
	deviceRawLen     = devicePayloadLen + sha256.Size
)

var deviceEncodedLen = base64.RawURLEncoding.EncodedLen(deviceRawLen)

// deviceCookies issues and checks device cookies with the server secret,
// read from the database on first need and kept for the process's life.
type deviceCookies struct {
	store *db.Store
	now   func() time.Time

	mu  sync.Mutex
	key []byte
}

func (d *deviceCookies) macKey(r *http.Request) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.key == nil {
		k, err := d.store.ServerSecret(r.Context(), deviceSecretName)
		if err != nil {
			return nil, fmt.Errorf("handlers: device cookie key: %w", err)
		}
		d.key = k
	}
	return d.key, nil
}

func deviceMAC(key, payload []byte, account accountKey) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(deviceMACLabel))
	m.Write(payload)
	m.Write(account[:])
	return m.Sum(nil)
}

// trusted returns the device named by r's device cookie when the cookie is
// genuine, younger than deviceCookieAge and was issued for account. A
// cookie that is forged, altered, expired or another account's gives no
// trust, and no error: the sign-in is simply an untrusted one.
func (d *deviceCookies) trusted(r *http.Request, account accountKey) (deviceID, bool, error) {
	ck, err := r.Cookie(cookieName(r, deviceCookieBase))
	if err != nil || len(ck.Value) != deviceEncodedLen {
		return deviceID{}, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(raw) != deviceRawLen || raw[0] != deviceVersion {
		return deviceID{}, false, nil
	}
	key, err := d.macKey(r)
	if err != nil {
		return deviceID{}, false, err
	}
	payload, mac := raw[:devicePayloadLen], raw[devicePayloadLen:]
	if !hmac.Equal(mac, deviceMAC(key, payload, account)) {
		return deviceID{}, false, nil
	}
	var issued int64
	if _, err := binary.Decode(payload[deviceTimeAt:deviceNonceAt], binary.BigEndian, &issued); err != nil {
		return deviceID{}, false, nil
	}
	if d.now().Sub(time.Unix(issued, 0)) > deviceCookieAge {
		return deviceID{}, false, nil
	}
	return deviceID(payload[deviceNonceAt:]), true, nil
}

// issue sets a new device cookie for account: a fresh nonce at every
// sign-in, so a device's failure count starts again from its last success.
// HttpOnly, SameSite=Lax, and Secure with the __Host- prefix wherever the
// browser keeps a Secure cookie, like the session cookie.
func (d *deviceCookies) issue(c echo.Context, account accountKey) error {
	r := c.Request()
	key, err := d.macKey(r)
	if err != nil {
		return err
	}
	payload := make([]byte, 1, deviceRawLen)
	payload[0] = deviceVersion
	payload, err = binary.Append(payload, binary.BigEndian, d.now().Unix())
	if err != nil {
		return fmt.Errorf("handlers: device cookie: %w", err)
	}
	var nonce deviceID
	if _, err := randRead(nonce[:]); err != nil {
		return fmt.Errorf("handlers: device cookie: %w", err)
	}
	payload = append(payload, nonce[:]...)
	value := base64.RawURLEncoding.EncodeToString(append(payload, deviceMAC(key, payload, account)...))
	c.SetCookie(&http.Cookie{ // #nosec G124 -- Secure is set whenever the connection allows it
		Name: cookieName(r, deviceCookieBase), Value: value, Path: "/",
		MaxAge: int(deviceCookieAge / time.Second), HttpOnly: true,
		Secure: secureRequest(r), SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// loginAttemptOf describes a sign-in attempt for the throttle: the client
// address, the account the email names and, if the browser holds a valid
// device cookie for that account, its device. Without the server secret
// (a database error) the attempt is untrusted: sign-in still works, under
// the account's back-off.
func (h *Handler) loginAttemptOf(c echo.Context, email string) loginAttempt {
	who := loginAttempt{ip: addrKey(c.RealIP())}
	who.account, who.hasAccount = accountKeyOf(email)
	if !who.hasAccount {
		return who
	}
	dev, ok, err := h.devices.trusted(c.Request(), who.account)
	if err != nil {
		h.Logger.LogAttrs(ctx(c), slog.LevelError, "device cookie check failed", slog.String("error", err.Error()))
	}
	who.device, who.trusted = dev, ok
	return who
}

// trustDevice issues the device cookie after a successful sign-in. Failing
// to must not fail the sign-in; it is logged.
func (h *Handler) trustDevice(c echo.Context, who loginAttempt) {
	if err := h.devices.issue(c, who.account); err != nil {
		h.Logger.LogAttrs(ctx(c), slog.LevelError, "device cookie not issued", slog.String("error", err.Error()))
	}
}

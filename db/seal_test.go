package db

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestSealOpensOnlyUntampered: what enqueue seals in a transaction opens
// with the store's seal secret, and a sealed value changed by one bit
// does not open.
func TestSealOpensOnlyUntampered(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		plain := []byte(`{"token":"secret"}`)
		sealed, err := sealInTx(ctx, tx, s.Now(), plain)
		if err != nil {
			t.Fatalf("sealInTx: %v", err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte("secret")) {
			t.Errorf("sealed value holds the plain text")
		}
		got, err := s.unseal(ctx, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("unseal: got %q, %v; want %q", got, err, plain)
		}
		tampered := bytes.Clone(sealed)
		tampered[len(tampered)-1] ^= 1
		if _, err := s.unseal(ctx, tampered); !errors.Is(err, errSealBroken) {
			t.Errorf("unseal of a tampered value: got %v, want errSealBroken", err)
		}
	})
}

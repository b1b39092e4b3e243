package db

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// openAt opens a Store on path, as a second process or a restart would.
func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{Argon2: testArgon2})
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestServerSecret(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	first := openAt(t, path)
	a, err := first.ServerSecret(ctx, "device_cookie")
	if err != nil {
		t.Fatalf("ServerSecret: %v", err)
	}
	if len(a) != serverSecretSize || bytes.Equal(a, make([]byte, serverSecretSize)) {
		t.Fatalf("new secret: got %d bytes %x, want %d random bytes", len(a), a, serverSecretSize)
	}

	tests := []struct {
		name  string
		store *Store
		key   string
		same  bool
	}{
		{"asked again", first, "device_cookie", true},
		{"after a restart, or on another instance", openAt(t, path), "device_cookie", true},
		{"another name", first, "something_else", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.store.ServerSecret(ctx, tt.key)
			if err != nil {
				t.Fatalf("ServerSecret: %v", err)
			}
			if bytes.Equal(got, a) != tt.same {
				t.Errorf("secret %q: equal to the first: got %v, want %v", tt.key, !tt.same, tt.same)
			}
		})
	}
}

// TestServerSecretFirstUseRace: instances asking for a new secret at the
// same moment all get the one that was stored.
func TestServerSecretFirstUseRace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	stores := []*Store{openAt(t, path), openAt(t, path), openAt(t, path)}
	got := make([][]byte, 12)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			v, err := stores[i%len(stores)].ServerSecret(ctx, "device_cookie")
			if err != nil {
				t.Errorf("ServerSecret %d: %v", i, err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	for i, v := range got {
		if !bytes.Equal(v, got[0]) {
			t.Errorf("caller %d: got %x, want %x like caller 0", i, v, got[0])
		}
	}
}

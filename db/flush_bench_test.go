package db

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkFlush measures one usage flush in the steady state of a busy
// server: 1,000 keys used since the last flush, each from the address it
// has used before. It bounds how fresh "last used" can be: a use waits for
// the next tick, then for the flush to commit.
func BenchmarkFlush(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "keyward.db"), Options{Argon2: testArgon2})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	u, err := s.CreateUser(ctx, "bench@example.com", "correct horse battery staple", RoleMember, CLIActor())
	if err != nil {
		b.Fatal(err)
	}
	const keys = 1000
	ids := make([]int64, keys)
	for i := range ids {
		k, _, err := s.CreateKey(ctx, u.ID, KeyInput{Name: fmt.Sprintf("k%d", i)}, CLIActor())
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = k.ID
	}
	v := NewVerifier(s, VerifierOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	now := time.Now()
	use := func() {
		now = now.Add(time.Millisecond)
		for i, id := range ids {
			v.usage.record(id, now, fmt.Sprintf("10.1.%d.%d", i/256, i%256), "bench/1")
		}
	}
	use()
	if err := v.Flush(ctx); err != nil { // the first flush records every address
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		use()
		b.StartTimer()
		if err := v.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

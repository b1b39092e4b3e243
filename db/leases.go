package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A job lease makes a background job run once per tick however many
// instances share the database: each tick, every instance asks for the
// job's lease, and only the one that gets it runs the job. One portable
// conditional upsert decides, so it holds the same on SQLite and
// PostgreSQL and no lock outlives a crashed holder: its lease expires.

// tryLeaseSQL takes the lease when there is none, when it has expired or
// when holder has it already (a renewal). When another holder's lease is
// still running the upsert's WHERE leaves the row alone and RETURNING
// gives no row.
const tryLeaseSQL = `INSERT INTO job_leases (name, holder, expires_at) VALUES (?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
	WHERE job_leases.expires_at <= ? OR job_leases.holder = excluded.holder
	RETURNING holder`

// TryLease takes or renews the lease called name for holder until ttl from
// now (the Store's clock), and reports whether holder has it.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if name == "" || holder == "" || ttl <= 0 {
		return false, fmt.Errorf("db: lease %q for %q for %v: want a name, a holder and a positive time", name, holder, ttl)
	}
	now := s.Now()
	var got string
	err := s.w.QueryRowContext(ctx, tryLeaseSQL, name, holder, toMillis(now.Add(ttl)), toMillis(now)).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("db: lease %q: %w", name, err)
	}
	return got == holder, nil
}

// Command seed fills a fresh Keyward database for the benchmarks, through the
// db package only (the same code paths the product uses), and writes a
// seedfile.Seed describing what it made.
//
//	seed -profile verify -db bench/out/verify.db -out bench/out/verify.json
//	seed -profile pages  -db bench/out/pages.db  -out bench/out/pages.json
//	seed -profile verify -db postgres://…/kwbench_verify -out bench/out/pg-verify.json
//
// The verify profile is the load test's world: 10,000 keys across 100
// users, 200 members with production argon2id hashes for the sign-in test,
// an admin who owns the probe keys, and the refused keys wrk mixes in. The
// pages profile is a large installation for the page timings: 100,000 keys
// across 1,000 users (one of whom holds 10,000) created over 400 days, two
// thirds of them used at some point, 5% revoked and 5% disabled.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/keyward/keyward/bench/internal/seedfile"
	"github.com/keyward/keyward/db"
)

// cheapArgon2 hashes the pages profile's 1,001 accounts in seconds rather
// than minutes. Hashes carry their parameters, so these accounts still sign
// in against a server running the production ones.
var cheapArgon2 = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func main() {
	profile := flag.String("profile", "verify", "verify or pages")
	path := flag.String("db", "", "database file to create (must not exist), or the postgres:// URL of an empty database")
	out := flag.String("out", "", "where to write the seed description (JSON)")
	flag.Parse()
	if *path == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "seed: -db and -out are required")
		os.Exit(2)
	}
	// An empty PostgreSQL database is the harness's to make (db.Open
	// migrates it); a SQLite file must not exist yet.
	if _, err := os.Stat(*path); !db.IsPostgres(*path) && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "seed: %s exists; remove it first\n", *path)
		os.Exit(2)
	}
	start := time.Now()
	var (
		s   *seedfile.Seed
		err error
	)
	ctx := context.Background()
	switch *profile {
	case "verify":
		s, err = seedVerify(ctx, *path)
	case "pages":
		s, err = seedPages(ctx, *path)
	default:
		err = fmt.Errorf("unknown profile %q", *profile)
	}
	if err == nil {
		err = seedfile.Write(*out, s)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "seed: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "seed: %s profile: %d keys, %d users in %s\n",
		*profile, s.Keys, s.Users, time.Since(start).Round(100*time.Millisecond))
}

// password is one strong password shared by every seeded account: the
// benchmarks sign in, they do not test password policy.
func password() (string, error) { return db.GeneratePassword("") }

// createUsers creates n accounts named prefix000@bench.test… with
// concurrent calls, so that argon2id runs on every core while the single
// writer inserts.
func createUsers(ctx context.Context, st *db.Store, prefix string, n int, pw string, role db.Role) ([]seedfile.Cred, error) {
	out := make([]seedfile.Cred, n)
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		first error
		mu    sync.Mutex
	)
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				email := fmt.Sprintf("%s%04d@bench.test", prefix, i)
				u, err := st.CreateUser(ctx, email, pw, role, db.CLIActor())
				if err != nil {
					mu.Lock()
					first = errors.Join(first, fmt.Errorf("create %s: %w", email, err))
					mu.Unlock()
					return
				}
				out[i] = seedfile.Cred{ID: u.ID, Email: u.Email, Password: pw}
			}
		})
	}
	wg.Wait()
	return out, first
}

func createKey(ctx context.Context, st *db.Store, userID int64, name string, scopes []string, exp *time.Time) (seedfile.Key, error) {
	return createKeyWith(ctx, st, userID, db.KeyInput{Name: name, Scopes: scopes, ExpiresAt: exp})
}

func createKeyWith(ctx context.Context, st *db.Store, userID int64, in db.KeyInput) (seedfile.Key, error) {
	name := in.Name
	k, secret, err := st.CreateKey(ctx, userID, in, db.CLIActor())
	if err != nil {
		return seedfile.Key{}, fmt.Errorf("create key %q: %w", name, err)
	}
	return seedfile.Key{ID: k.ID, Secret: secret}, nil
}

// loadAllowlist is the IP allowlist of every load key: four networks, the
// clients wrk stands in for (10.1.0.0/16) in the last.
var loadAllowlist = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("10.1.0.0/16"),
}

var scopeSets = [][]string{nil, {"read"}, {"read", "write"}, {"deploy"}, {"admin", "read"}}

// publishScopes puts every scope of scopeSets in the catalog, as an admin
// would before people create keys with them: keys carry catalog scopes.
func publishScopes(ctx context.Context, st *db.Store) error {
	seen := map[string]bool{}
	for _, set := range scopeSets {
		for _, sc := range set {
			if seen[sc] {
				continue
			}
			seen[sc] = true
			if _, err := st.CreateScope(ctx, db.ScopeInput{Name: sc}, db.CLIActor()); err != nil {
				return fmt.Errorf("publish scope %q: %w", sc, err)
			}
		}
	}
	return nil
}

// seedVerify builds the load test's database.
func seedVerify(ctx context.Context, path string) (*seedfile.Seed, error) {
	st, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	pw, err := password()
	if err != nil {
		return nil, err
	}
	if err := publishScopes(ctx, st); err != nil {
		return nil, err
	}
	s := &seedfile.Seed{Profile: "verify"}
	admins, err := createUsers(ctx, st, "admin", 1, pw, db.RoleAdmin)
	if err != nil {
		return nil, err
	}
	s.Admin = admins[0]
	if s.SignIn, err = createUsers(ctx, st, "member", 200, pw, db.RoleMember); err != nil {
		return nil, err
	}
	const owners, perOwner = 100, 100
	var spare []seedfile.Key // keys outside the load set
	for u := range owners {
		for j := range perOwner {
			in := db.KeyInput{Name: fmt.Sprintf("service %d-%d", u, j), Scopes: scopeSets[j%len(scopeSets)]}
			load := (u*perOwner+j)%10 == 0
			if load {
				// Limits that travel with the key, on every load key:
				// wrk presents each from its own 10.1.x.y address, in the
				// allowlist's last network (every entry is tried), and
				// the answer carries the metadata.
				in.AllowedIPs = loadAllowlist
				in.Meta = fmt.Sprintf(`{"tenant":"t-%04d","plan":"pro","limits":{"rps":100}}`, len(s.Load))
			}
			k, err := createKeyWith(ctx, st, s.SignIn[u].ID, in)
			if err != nil {
				return nil, err
			}
			if load {
				s.Load = append(s.Load, k)
			} else {
				spare = append(spare, k)
			}
		}
	}
	s.Users, s.Keys = owners, owners*perOwner

	// The refused keys wrk mixes in: unknown but well formed (a database
	// lookup, then the negative cache), malformed (refused before any
	// lookup) and revoked (a cached refusal).
	for range 20 {
		k, err := db.GenerateKey()
		if err != nil {
			return nil, err
		}
		s.Invalid = append(s.Invalid, k)
	}
	for i := range 15 {
		k := s.Load[i].Secret
		bad := []byte(k)
		bad[len(bad)-1] ^= 1 // a wrong checksum character
		switch i % 3 {
		case 0:
			s.Invalid = append(s.Invalid, string(bad))
		case 1:
			s.Invalid = append(s.Invalid, k[:20])
		default:
			s.Invalid = append(s.Invalid, fmt.Sprintf("not-a-key-%d", i))
		}
	}
	for _, k := range spare[:15] {
		if _, err := st.RevokeKey(ctx, db.AnyOwner(), k.ID, "bench: refused key", db.CLIActor()); err != nil {
			return nil, err
		}
		s.Invalid = append(s.Invalid, k.Secret)
	}

	for i := range 1000 {
		k, err := createKey(ctx, st, s.Admin.ID, fmt.Sprintf("probe %d", i), nil, nil)
		if err != nil {
			return nil, err
		}
		s.Probe = append(s.Probe, k)
	}
	for i := range 20 {
		k, err := createKey(ctx, st, s.Admin.ID, fmt.Sprintf("web revoke %d", i), nil, nil)
		if err != nil {
			return nil, err
		}
		s.WebRevoke = append(s.WebRevoke, k)
	}
	for i := range 5 {
		k, err := createKey(ctx, st, s.Admin.ID, fmt.Sprintf("cli revoke %d", i), nil, nil)
		if err != nil {
			return nil, err
		}
		s.CLIRevoke = append(s.CLIRevoke, k)
	}
	return s, nil
}

// seedPages builds the large installation. Keys are created in time order
// over 400 days with the store's clock moved along, so ids, creation dates,
// expiries and last uses look like years of real use.
func seedPages(ctx context.Context, path string) (*seedfile.Seed, error) {
	realNow := time.Now().UTC()
	var clock atomic.Int64
	clock.Store(realNow.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	st, err := db.Open(ctx, path, db.Options{Now: now, Argon2: cheapArgon2})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	pw, err := password()
	if err != nil {
		return nil, err
	}
	const (
		users     = 1000
		keys      = 100_000
		heavyKeys = 10_000
		span      = 400 * 24 * time.Hour
	)
	if err := publishScopes(ctx, st); err != nil {
		return nil, err
	}
	s := &seedfile.Seed{Profile: "pages", Users: users, Keys: keys, HeavyKeys: heavyKeys}
	start := realNow.Add(-span)
	clock.Store(start.UnixNano())
	admins, err := createUsers(ctx, st, "admin", 1, pw, db.RoleAdmin)
	if err != nil {
		return nil, err
	}
	s.Admin = admins[0]
	members, err := createUsers(ctx, st, "member", users, pw, db.RoleMember)
	if err != nil {
		return nil, err
	}
	s.Heavy = members[0]
	phase := time.Now()
	fmt.Fprintf(os.Stderr, "seed: %d users\n", users+1)

	rng := rand.New(rand.NewPCG(6, 13))
	type use struct {
		at     time.Time
		secret string
	}
	uses := make([]use, 0, keys)
	rows := make([]keyRow, 0, keys)
	for i := range keys {
		created := start.Add(time.Duration(int64(span) / keys * int64(i)))
		owner := members[0].ID
		if i%10 != 0 { // every tenth key is the heavy user's
			owner = members[1+rng.IntN(users-1)].ID
		}
		var exp *time.Time
		if rng.IntN(2) == 0 {
			t := created.Add(time.Duration(30+rng.IntN(400)) * 24 * time.Hour)
			exp = &t
		}
		secret, err := db.GenerateKey()
		if err != nil {
			return nil, err
		}
		rows = append(rows, keyRow{owner: owner, name: fmt.Sprintf("key %d", i), secret: secret,
			scopes: scopeSets[rng.IntN(len(scopeSets))], created: created, expires: exp})
		if rng.IntN(3) > 0 {
			last := realNow
			if exp != nil && exp.Before(last) {
				last = *exp
			}
			at := created.Add(time.Duration(rng.Int64N(int64(last.Sub(created)))))
			uses = append(uses, use{at: at, secret: secret})
		}
	}
	ids, err := insertKeys(ctx, path, rows)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "seed: %d keys in %s\n", keys, time.Since(phase).Round(100*time.Millisecond))
	phase = time.Now()

	// Last uses, replayed in time order through the verifier itself, so
	// last_used_at, the daily counts and the address log are the product's.
	slices.SortFunc(uses, func(a, b use) int { return a.at.Compare(b.at) })
	v := db.NewVerifier(st, db.VerifierOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for i, u := range uses {
		clock.Store(u.at.UnixNano())
		res, err := v.Verify(ctx, db.VerifyRequest{Key: u.secret, IP: fmt.Sprintf("10.0.%d.%d", i%200, i%250), UserAgent: "bench-seed/1"})
		if err != nil {
			return nil, err
		}
		if !res.Valid {
			return nil, fmt.Errorf("seeded key refused at %s: %s", u.at, res.Code)
		}
		if (i+1)%5000 == 0 || i == len(uses)-1 {
			if err := v.Flush(ctx); err != nil {
				return nil, err
			}
		}
	}

	fmt.Fprintf(os.Stderr, "seed: %d uses in %s\n", len(uses), time.Since(phase).Round(100*time.Millisecond))
	clock.Store(realNow.Add(-24 * time.Hour).UnixNano())
	perm := rng.Perm(keys)
	var revoke, disable []int64
	for _, p := range perm[:keys/20] {
		revoke = append(revoke, ids[p])
	}
	for _, p := range perm[keys/20 : keys/10] {
		disable = append(disable, ids[p])
	}
	if _, err := st.BulkRevokeKeys(ctx, revoke, "bench: seeded revocation", db.CLIActor()); err != nil {
		return nil, err
	}
	if _, err := st.BulkDisableKeys(ctx, disable, "bench: seeded disable", db.CLIActor()); err != nil {
		return nil, err
	}
	return s, nil
}

// Package seedfile is the hand-over between bench/seed, which fills a
// database, and bench/run, which drives the server on it: who can sign in,
// and which keys (plaintext, known only because the seed created them) serve
// which measurement. It is benchmark tooling and holds throwaway secrets.
package seedfile

import (
	"encoding/json"
	"fmt"
	"os"
)

// Cred is an account the harness signs in as.
type Cred struct {
	ID       int64  `json:"id"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Key is a seeded key with its plaintext.
type Key struct {
	ID     int64  `json:"id"`
	Secret string `json:"secret"`
}

// Seed describes one seeded database. Lists a profile does not fill are
// empty.
type Seed struct {
	Profile string `json:"profile"`
	Keys    int    `json:"keys"`  // keys in the database
	Users   int    `json:"users"` // users owning them
	Admin   Cred   `json:"admin"`
	// SignIn are members with production argon2id hashes (verify profile).
	SignIn []Cred `json:"sign_in,omitempty"`
	// Load are the keys wrk cycles through; Invalid the refused ones mixed in.
	Load    []Key    `json:"load,omitempty"`
	Invalid []string `json:"invalid,omitempty"`
	// Probe keys are used by nothing else, so a change to their last use or
	// daily count is the harness's own doing.
	Probe []Key `json:"probe,omitempty"`
	// WebRevoke keys belong to Admin; CLIRevoke keys to anyone.
	WebRevoke []Key `json:"web_revoke,omitempty"`
	CLIRevoke []Key `json:"cli_revoke,omitempty"`
	// Heavy owns HeavyKeys keys (pages profile).
	Heavy     Cred `json:"heavy"`
	HeavyKeys int  `json:"heavy_keys,omitempty"`
}

// Write stores s as JSON at path, readable by its owner only.
func Write(path string, s *Seed) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// Read loads the seed description at path.
func Read(path string) (*Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Seed
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

package main

import (
	"runtime/debug"
	"testing"
)

// vcsInfo is build information as Go records it for a build from a git
// checkout; main is the module version (or "(devel)").
func vcsInfo(main, revision, modified string) *debug.BuildInfo {
	bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/keyward/keyward", Version: main}}
	if revision != "" {
		bi.Settings = append(bi.Settings,
			debug.BuildSetting{Key: "vcs", Value: "git"},
			debug.BuildSetting{Key: "vcs.revision", Value: revision},
			debug.BuildSetting{Key: "vcs.time", Value: "2026-11-26T14:48:14Z"})
	}
	if modified != "" {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "vcs.modified", Value: modified})
	}
	return bi
}

const testRevision = "fc1b8144be40035b609044e8651d145d1b6f7d39"

func TestBuildVersion(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build information", nil, "dev"},
		{"go install of a release", vcsInfo("v1.4.0", "", ""), "v1.4.0"},
		{"go build: pseudo-version", vcsInfo("v0.0.0-20261126144814-fc1b8144be40", testRevision, "false"), "v0.0.0-20261126144814-fc1b8144be40"},
		{"go build: pseudo-version, dirty", vcsInfo("v0.0.0-20261126144814-fc1b8144be40+dirty", testRevision, "true"), "v0.0.0-20261126144814-fc1b8144be40+dirty"},
		{"devel with a clean revision", vcsInfo("(devel)", testRevision, "false"), "dev-fc1b8144be40"},
		{"devel with a dirty revision", vcsInfo("(devel)", testRevision, "true"), "dev-fc1b8144be40-dirty"},
		{"empty version with a revision", vcsInfo("", testRevision, ""), "dev-fc1b8144be40"},
		{"short revision", vcsInfo("(devel)", "1a2b3c", "false"), "dev-1a2b3c"},
		{"go run: nothing recorded", vcsInfo("(devel)", "", ""), "dev"},
		{"modified without a revision", vcsInfo("(devel)", "", "true"), "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildVersion(tt.bi); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVersionFromBuildInfo runs `keyward version` as built without
// -ldflags: it prints what the build information says, and a stamped
// version still wins.
func TestVersionFromBuildInfo(t *testing.T) {
	saved, savedVersion := readBuildInfo, version
	t.Cleanup(func() { readBuildInfo, version = saved, savedVersion })
	readBuildInfo = func() (*debug.BuildInfo, bool) { return vcsInfo("(devel)", testRevision, "true"), true }

	tests := []struct {
		name, stamped, want string
	}{
		{"from the build information", "", "dev-fc1b8144be40-dirty\n"},
		{"stamped by make build", "v2.0.1", "v2.0.1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			version = tt.stamped
			r := newCLI(t).ok("", "version")
			if r.stdout != tt.want {
				t.Errorf("keyward version: got stdout %q, want %q", r.stdout, tt.want)
			}
		})
	}
}

package main

import (
	"time"

	"github.com/keyward/keyward/bench/internal/seedfile"
)

// results is everything a run measured; writeReport renders it.
type results struct {
	Date                  time.Time
	Commit, CPU           string
	GoVersion, Kernel     string
	Cores                 int
	LoadBefore, LoadAfter string
	BusyBefore            float64 // share of CPU busy with other work before the run
	Phases                []phaseLoad
	Elapsed               time.Duration
	SeedTimes             []string

	verifySeed, pagesSeed *seedfile.Seed
	// previous are the summary's results in the report this run replaces,
	// by figure (previousSummary), for the comparison section.
	previous map[string]string

	Throughput   []endpointResult
	Outcomes     map[string]int64 // Keyward's verification outcomes during the rounds
	InvalidMix   map[string]int   // refusal codes of the refused keys wrk mixes in
	UsageCounted int64            // uses in key_usage_daily after the rounds
	UsageValid   int64            // valid verifications the server counted
	Background   wrkResult        // the load under freshness and revocation

	Fresh     freshResult
	Revoke    revokeResult
	Pages     []pageResult
	SignIn    signInResult
	Footprint footprintResult
	PG        pgResult
	Outbox    outboxResult
	Refusals  refusalsResult
	Activity  activityResult
	Leaks     leakResult
	Micro     []microResult
	// VariantMicro are the Stack microbenchmarks per build (Pkg holds the
	// build's name: "current" or a variant's).
	VariantMicro []microResult
}

type phaseLoad struct{ Name, Load1 string }

type round struct {
	Keyward, Bare wrkResult
	Ratio         float64
	Load1         string
	// Variants are the other builds' runs of this round, in -variants
	// order, each right after the current build's and before the bare one.
	Variants []wrkResult
}

type endpointResult struct {
	Endpoint endpoint
	Rounds   []round
	Median   float64
	Statuses map[string]int64 // Keyward's responses by status during the rounds
}

type freshResult struct {
	Workers  int
	Poll     time.Duration
	Lat      latency
	Timeouts int
}

type revokeResult struct {
	WebTrials   int
	WebAfter    int // valid answers to requests sent after the revoke response
	WebInFlight int // valid answers to requests sent before it, answered after
	WebRefused  int
	CLIAfter    int
	CLIDelays   []time.Duration // per key: last success after the command returned
	CLICommand  []time.Duration // how long `keyward keys revoke` took
	ProbeErrors int
}

type pageResult struct {
	Spec    pageSpec
	Lat     latency
	Bytes   int64
	Rows    int64
	Missing string
}

type signInResult struct {
	N, OK, Throttled, Errors int
	ErrorSample              string
	Lat                      latency
	HWMBefore, HWMAfter      int64
	Wall                     time.Duration
}

type footprintResult struct {
	BinStripped, BinFull int64
	Startup              map[string][]time.Duration
	IdleRSS              map[string][]int64
}

type microResult struct {
	Pkg, Name           string
	N                   int64
	NsOp, BOp, AllocsOp float64
}

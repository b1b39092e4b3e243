package main

import (
	"slices"
	"testing"
	"time"
)

// wrkReport is a real `wrk --latency` report (wrk 4.1.0).
const wrkReport = `Running 10s test @ http://127.0.0.1:40123/api/v1/keys/verify
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.51ms    4.88ms  61.15ms   90.02%
    Req/Sec    11.68k     1.02k   14.01k    70.50%
  Latency Distribution
     50%    2.75ms
     75%    3.66ms
     90%    6.70ms
     99%   20.24ms
  232458 requests in 10.00s, 66.77MB read
  Socket errors: connect 0, read 3, write 0, timeout 0
  Non-2xx or 3xx responses: 11623
Requests/sec:  23245.70
Transfer/sec:      6.68MB
`

func TestParseWrk(t *testing.T) {
	got, err := parseWrk(wrkReport)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 232458, RPS: 23245.70, P50: 2750 * time.Microsecond, P99: 20240 * time.Microsecond,
		Non2xx: 11623, SocketErrors: "connect 0, read 3, write 0, timeout 0"}
	if got != want {
		t.Errorf("parseWrk:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestParseWrkUnits(t *testing.T) {
	tests := []struct {
		p50, p99 string
		want50   time.Duration
		want99   time.Duration
	}{
		{"812.00us", "1.20s", 812 * time.Microsecond, 1200 * time.Millisecond},
		{"2.00ms", "1.50m", 2 * time.Millisecond, 90 * time.Second},
	}
	for _, tt := range tests {
		report := "     50%  " + tt.p50 + "\n     99%  " + tt.p99 + "\n10 requests in 1.00s\nRequests/sec:  10.00\n"
		got, err := parseWrk(report)
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.p50, tt.p99, err)
		}
		if got.P50 != tt.want50 || got.P99 != tt.want99 {
			t.Errorf("%s/%s: got p50 %v p99 %v, want %v and %v", tt.p50, tt.p99, got.P50, got.P99, tt.want50, tt.want99)
		}
	}
}

func TestParseWrkRefusesIncompleteReports(t *testing.T) {
	for name, report := range map[string]string{
		"empty":           "",
		"no latency":      "10 requests in 1.00s\nRequests/sec:  10.00\n",
		"no requests/sec": "     50%  1.00ms\n     99%  2.00ms\n",
	} {
		if _, err := parseWrk(report); err == nil {
			t.Errorf("%s: got no error, want one", name)
		}
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	want := latency{N: 100, P50: 50 * time.Millisecond, P95: 95 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("summarize(1..100 ms): got %+v, want %+v", got, want)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("summarize sorted its argument in place")
	}
	if got := summarize(nil); got != (latency{}) {
		t.Errorf("summarize(nil): got %+v, want zero", got)
	}
	if got := summarize([]time.Duration{7}); got.P50 != 7 || got.P99 != 7 || got.Max != 7 {
		t.Errorf("summarize(one): got %+v, want every figure 7", got)
	}
}

func TestMedians(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{0.7}, 0.7},
		{[]float64{0.9, 0.5, 0.7}, 0.7},
		{[]float64{0.8, 0.6}, 0.7},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v): got %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := median([]time.Duration{3, 1, 2, 4}); got != 2 {
		t.Errorf("median(1..4 ns): got %v, want 2 (integer mean of 2 and 3)", got)
	}
	if got := median([]int64{30, 10, 20}); got != 20 {
		t.Errorf("median(10, 20, 30): got %v, want 20", got)
	}
}

func TestVerdicts(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"ratio met", verdictMin(0.72, 0.70, ""), "MEETS"},
		{"ratio met exactly", verdictMin(0.70, 0.70, ""), "MEETS"},
		{"ratio missed", verdictMin(0.59, 0.70, ""), "MISSES by 0.11"},
		{"time met", verdictMax(9.4, 10, " ms"), "MEETS"},
		{"time missed", verdictMax(10.1, 10, " ms"), "MISSES by 0.1 ms"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestParseVariants(t *testing.T) {
	tests := []struct {
		name, in string
		want     []variant
		err      bool
	}{
		{"none", "", nil, false},
		{"two", "base=fc1b814, no-json=HEAD~1", []variant{{Name: "base", Rev: "fc1b814"}, {Name: "no-json", Rev: "HEAD~1"}}, false},
		{"no revision", "base=", nil, true},
		{"no name", "=HEAD", nil, true},
		{"no equals", "HEAD~1", nil, true},
		{"upper-case name", "Base=HEAD", nil, true},
		{"twice", "a=HEAD,a=HEAD~1", nil, true},
		{"the current build's name", "current=HEAD", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVariants(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("parseVariants(%q): got error %v, want error %v", tt.in, err, tt.err)
			}
			if !tt.err && !slices.Equal(got, tt.want) {
				t.Errorf("parseVariants(%q): got %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

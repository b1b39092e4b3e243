package main

import (
	"fmt"
	"os"
	"testing"
)

// TestLeakReportsMeasure runs the leak phase's measurement alone and logs
// its figures: KEYWARD_BENCH_LEAKS=1 go test ./bench/run -run
// TestLeakReportsMeasure -v. (make bench runs it as the "leaks" phase.)
func TestLeakReportsMeasure(t *testing.T) {
	if os.Getenv("KEYWARD_BENCH_LEAKS") == "" {
		t.Skip("set KEYWARD_BENCH_LEAKS=1 to measure leak reports")
	}
	r, err := measureLeaks(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{res: &results{Leaks: r}}
	var out []byte
	h.writeLeaks(func(format string, args ...any) { out = fmtAppend(out, format, args...) })
	h.writeLeaksSummary(func(format string, args ...any) { out = fmtAppend(out, format, args...) })
	t.Logf("\n%s", out)
}

func fmtAppend(b []byte, format string, args ...any) []byte { return fmt.Appendf(b, format, args...) }

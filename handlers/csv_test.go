package handlers

import (
	"bytes"
	"encoding/csv"
	"testing"
)

// TestCSVFormulaEscape: a cell gets the apostrophe when a spreadsheet could
// read it as a formula, also when invisible characters stand in front of
// the = or the = is a compatibility form (fullwidth, small); other cells
// are written as they are.
func TestCSVFormulaEscape(t *testing.T) {
	tests := []struct {
		name, cell string
		escaped    bool
	}{
		{"equals", "=1+1", true},
		{"plus", "+1", true},
		{"minus", "-1", true},
		{"at", "@SUM(A1)", true},
		{"tab", "\tx", true},
		{"carriage return", "\rx", true},
		{"NUL", "\x00x", true},
		{"zero-width space", "\u200B=HYPERLINK(\"http://evil.example\")", true},
		{"byte-order mark", "\uFEFF=1+1", true},
		{"word joiner", "\u2060+1", true},
		{"several invisibles", "\u200B\u200C\u200D\uFEFF@x", true},
		{"hangul filler", "\u3164=1", true},
		{"fullwidth equals", "\uFF1D1+1", true},
		{"small equals", "\uFE661+1", true},
		{"fullwidth plus", "\uFF0B1", true},
		{"fullwidth at", "\uFF20x", true},
		{"ideographic space", "\u3000=1", true},
		{"space", " =1", true},
		{"no-break space", "\u00A0-1", true},
		{"plain", "CI deploy", false},
		{"empty", "", false},
		{"equals later", "a=b", false},
		{"already quoted", "'=x", false},
		{"invisible only", "\u200B", false},
		{"invisible then text", "\u200Bname", false},
		{"not equal sign", "\u22601", false},
		{"invalid UTF-8", "\xff=1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewCSVWriter(&buf)
			if err := w.Write([]string{tt.cell, "end"}); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			// A second cell, so that an empty first one is still a record.
			got, err := csv.NewReader(&buf).Read()
			if err != nil {
				t.Fatalf("read back %q: %v", buf.String(), err)
			}
			want := tt.cell
			if tt.escaped {
				want = "'" + tt.cell
			}
			if got[0] != want {
				t.Errorf("cell %q: got %q, want %q", tt.cell, got[0], want)
			}
		})
	}
}

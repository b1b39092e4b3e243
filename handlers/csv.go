package handlers

import (
	"encoding/csv"
	"io"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// CSVWriter writes a credential report. Spreadsheet programs execute a cell
// that starts with =, +, - or @ (and tab, carriage return or NUL) as a formula,
// so such cells get a leading apostrophe (OWASP's CSV-injection advice): a
// key named "=HYPERLINK(…)" is shown as text, not run. A name need not start
// with the = byte to be read as one: invisible characters in front of it
// (a zero-width space, a byte-order mark, spaces a CSV import trims) and
// compatibility forms (a fullwidth ＝, which NFKC folds into =) count too.
type CSVWriter struct {
	w *csv.Writer
}

// NewCSVWriter returns a CSVWriter on w.
func NewCSVWriter(w io.Writer) *CSVWriter { return &CSVWriter{w: csv.NewWriter(w)} }

// Write writes one record, escaping formula-like cells. CRs right before a
// LF inside a cell are dropped: CSV readers (encoding/csv among them) drop
// them anyway, so writing them would only make the file differ from what is
// read back.
func (c *CSVWriter) Write(record []string) error {
	out := make([]string, len(record))
	for i, cell := range record {
		out[i] = escapeFormula(dropCRBeforeLF(cell))
	}
	return c.w.Write(out)
}

// Flush flushes and reports any write error.
func (c *CSVWriter) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

// formulaStarts are the first characters that make a spreadsheet read a
// cell as a formula or mangle it: OWASP's list plus NUL (ASVS 5.0 1.2.10).
const formulaStarts = "=+-@\t\r\x00"

func escapeFormula(s string) string {
	if formulaLike(s) {
		return "'" + s
	}
	return s
}

// formulaLike reports whether a spreadsheet could take s for a formula: its
// first byte is one of formulaStarts, or it is once the characters nobody
// sees are dropped from its front and compatibility forms folded (NFKC).
// NFKC comes first: it can turn a visible character into a space and a
// combining mark, or an invisible one into another.
func formulaLike(s string) bool {
	if s == "" {
		return false
	}
	if strings.IndexByte(formulaStarts, s[0]) >= 0 {
		return true
	}
	if ' ' < s[0] && s[0] < 0x7f {
		// A visible ASCII character other than a formula start is what a
		// spreadsheet sees first; NFKC could only compose it with what
		// follows into another character that starts no formula (< and
		// U+0338 into ≮). The common case, without normalizing.
		return false
	}
	v := strings.TrimLeftFunc(norm.NFKC.String(s), invisible)
	return v != "" && strings.IndexByte(formulaStarts, v[0]) >= 0
}

// invisible reports whether r shows as nothing (or as blank space) in a
// cell: white space, controls, format characters such as U+200B and U+FEFF,
// anything not graphic (unassigned, private use), and the default-ignorable
// letters and marks (Hangul fillers, variation selectors).
func invisible(r rune) bool {
	return !unicode.IsGraphic(r) || unicode.IsSpace(r) ||
		unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector)
}

// dropCRBeforeLF turns every run of CRs followed by a LF into the LF alone.
func dropCRBeforeLF(s string) string {
	if !strings.Contains(s, "\r\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' {
			j := i
			for j < len(s) && s[j] == '\r' {
				j++
			}
			if j < len(s) && s[j] == '\n' {
				i = j - 1
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

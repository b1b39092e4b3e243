package handlers

import (
	"encoding/csv"
	"io"
	"strings"
)

// CSVWriter writes a credential report. Spreadsheet programs execute a cell
// that starts with =, +, - or @ (and tab, carriage return or NUL) as a formula,
// so such cells get a leading apostrophe (OWASP's CSV-injection advice): a
// key named "=HYPERLINK(…)" is shown as text, not run.
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
	if s == "" {
		return s
	}
	if strings.ContainsRune(formulaStarts, rune(s[0])) {
		return "'" + s
	}
	return s
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

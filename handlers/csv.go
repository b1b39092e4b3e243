package handlers

import (
	"encoding/csv"
	"io"
	"strings"
)

// CSVWriter writes a credential report. Spreadsheet programs execute a cell
// that starts with =, +, - or @ (and tab or carriage return) as a formula,
// so such cells get a leading apostrophe (OWASP's CSV-injection advice): a
// key named "=HYPERLINK(…)" is shown as text, not run.
type CSVWriter struct {
	w *csv.Writer
}

// NewCSVWriter returns a CSVWriter on w.
func NewCSVWriter(w io.Writer) *CSVWriter { return &CSVWriter{w: csv.NewWriter(w)} }

// Write writes one record, escaping formula-like cells.
func (c *CSVWriter) Write(record []string) error {
	out := make([]string, len(record))
	for i, cell := range record {
		out[i] = escapeFormula(cell)
	}
	return c.w.Write(out)
}

// Flush flushes and reports any write error.
func (c *CSVWriter) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

func escapeFormula(s string) string {
	if s == "" {
		return s
	}
	if strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

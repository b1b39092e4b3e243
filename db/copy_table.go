package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"math"
	"slices"
	"strings"
)

// colKind is what a column holds, whatever the engine calls its type:
// SQLite's INTEGER, TEXT and BLOB are PostgreSQL's bigint, text and bytea.
type colKind byte

const (
	kindInt colKind = iota + 1
	kindText
	kindBlob
)

func (k colKind) String() string {
	switch k {
	case kindInt:
		return "integer"
	case kindText:
		return "text"
	default:
		return "blob"
	}
}

// kindOf maps a declared column type of either engine to its kind.
func kindOf(declared string) (colKind, bool) {
	t := strings.ToLower(declared)
	switch {
	case strings.Contains(t, "int"):
		return kindInt, true
	case strings.Contains(t, "text"), strings.Contains(t, "char"):
		return kindText, true
	case strings.Contains(t, "blob"), t == "bytea":
		return kindBlob, true
	}
	return 0, false
}

// copyColumn is one column of a table as the copy sees it.
type copyColumn struct {
	name string
	kind colKind
	pk   int // position in the primary key, 1-based; 0 when not in it
}

// readColumns lists the columns of table on tx's engine.
func readColumns(ctx context.Context, tx *Tx, table string) ([]copyColumn, error) {
	rows, err := tx.QueryContext(ctx, tx.d.columnsSQL, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []copyColumn
	for rows.Next() {
		var name, declared string
		var pk int
		if err := rows.Scan(&name, &declared, &pk); err != nil {
			return nil, err
		}
		kind, ok := kindOf(declared)
		if !ok {
			return nil, fmt.Errorf("column %s has type %s, which the copy does not know", name, declared)
		}
		cols = append(cols, copyColumn{name: name, kind: kind, pk: pk})
	}
	return cols, rows.Err()
}

// tablePlan is how one table is copied: its columns (the source's, in the
// source's order, which the target has too), the queries that read it in
// primary-key order on each side, and what was copied.
type tablePlan struct {
	name       string
	cols       []copyColumn
	srcSelect  string
	dstSelect  string
	rows       int64
	sum        []byte
	identityID bool // the primary key is one integer id column
	dstDialect *dialect
}

// planTable reads the columns of table on both sides and refuses a table
// the two do not share column for column.
func planTable(ctx context.Context, src, dst *Tx, table string) (*tablePlan, error) {
	cols, err := readColumns(ctx, src, table)
	if err != nil {
		return nil, fmt.Errorf("db: copy: read the source's columns of %s: %w", table, err)
	}
	dcols, err := readColumns(ctx, dst, table)
	if err != nil {
		return nil, fmt.Errorf("db: copy: read the target's columns of %s: %w", table, err)
	}
	if len(cols) == 0 || len(dcols) == 0 {
		return nil, fmt.Errorf("db: copy: table %s is missing from the source or the target", table)
	}
	for _, c := range cols {
		i := slices.IndexFunc(dcols, func(d copyColumn) bool { return d.name == c.name })
		if i < 0 || dcols[i].kind != c.kind {
			return nil, fmt.Errorf("db: copy: table %s: the source's column %s (%s) has no %s twin in the target", table, c.name, c.kind, c.kind)
		}
	}
	if len(dcols) != len(cols) {
		return nil, fmt.Errorf("db: copy: table %s: the target has %d columns, the source %d", table, len(dcols), len(cols))
	}
	var pk []copyColumn
	for _, c := range cols {
		if c.pk > 0 {
			pk = append(pk, c)
		}
	}
	if len(pk) == 0 {
		return nil, fmt.Errorf("db: copy: table %s has no primary key to read it in order by", table)
	}
	slices.SortFunc(pk, func(a, b copyColumn) int { return a.pk - b.pk })
	return &tablePlan{
		name:       table,
		cols:       cols,
		srcSelect:  selectInOrder(src.d, table, cols, pk),
		dstSelect:  selectInOrder(dst.d, table, cols, pk),
		identityID: len(pk) == 1 && pk[0].name == "id" && pk[0].kind == kindInt,
		dstDialect: dst.d,
	}, nil
}

// selectInOrder reads every column of table in primary-key order, text
// compared byte by byte, so that both engines return the rows in the same
// order.
func selectInOrder(d *dialect, table string, cols, pk []copyColumn) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c.name)
	}
	order := make([]string, len(pk))
	for i, c := range pk {
		order[i] = quoteIdent(c.name)
		if c.kind == kindText {
			order[i] = fmt.Sprintf(d.binaryOrderFmt, order[i])
		}
	}
	return "SELECT " + strings.Join(names, ", ") + " FROM " + quoteIdent(table) + " ORDER BY " + strings.Join(order, ", ")
}

// insertSQL inserts n rows of every column of the plan.
func (p *tablePlan) insertSQL(n int) string {
	names := make([]string, len(p.cols))
	for i, c := range p.cols {
		names[i] = quoteIdent(c.name)
	}
	return "INSERT INTO " + quoteIdent(p.name) + " (" + strings.Join(names, ", ") + ") VALUES " + valuesList(n, len(p.cols))
}

// copyRows streams the table from src into dst in batches of multi-row
// INSERTs, hashing each row as it goes.
func (p *tablePlan) copyRows(ctx context.Context, src, dst *Tx, batchRows int) error {
	per := max(1, min(batchRows, maxCopyParams/len(p.cols)))
	args := make([]any, 0, per*len(p.cols))
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		if _, err := dst.ExecContext(ctx, p.insertSQL(len(args)/len(p.cols)), args...); err != nil {
			return fmt.Errorf("db: copy: write %s: %w", p.name, err)
		}
		args = args[:0]
		return nil
	}
	h := newRowHasher()
	err := p.eachRow(ctx, src, "source", func(row []any) error {
		h.add(p.cols, row)
		p.rows++
		args = append(args, row...)
		if len(args) >= per*len(p.cols) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	p.sum = h.sum()
	return nil
}

// verify reads the table back from the target inside the copy's
// transaction and compares its rows and checksum with the source's.
func (p *tablePlan) verify(ctx context.Context, dst *Tx) error {
	h := newRowHasher()
	var n int64
	if err := p.eachRow(ctx, dst, "target", func(row []any) error {
		h.add(p.cols, row)
		n++
		return nil
	}); err != nil {
		return err
	}
	if got := h.sum(); n != p.rows || !bytes.Equal(got, p.sum) {
		return fmt.Errorf("%w: table %s: the source has %d rows (checksum %x), the target read back %d (checksum %x); the copy was rolled back and nothing was written",
			ErrCopyMismatch, p.name, p.rows, p.sum, n, got)
	}
	return nil
}

// eachRow calls fn with every row of the table on tx, in primary-key
// order, each value made canonical for its column's kind (normalize).
// fn must not keep the slice.
func (p *tablePlan) eachRow(ctx context.Context, tx *Tx, side string, fn func([]any) error) error {
	q := p.srcSelect
	if side == "target" {
		q = p.dstSelect
	}
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("db: copy: read the %s's %s: %w", side, p.name, err)
	}
	defer rows.Close()
	vals := make([]any, len(p.cols))
	ptrs := make([]any, len(p.cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	row := make([]any, len(p.cols))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("db: copy: read the %s's %s: %w", side, p.name, err)
		}
		for i, c := range p.cols {
			v, err := normalize(c.kind, vals[i])
			if err != nil {
				return fmt.Errorf("db: copy: the %s's %s.%s: %w", side, p.name, c.name, err)
			}
			row[i] = v
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("db: copy: read the %s's %s: %w", side, p.name, err)
	}
	return nil
}

// resetIdentity moves the target's id sequence of the table past its
// largest id (dialect.resetIdentityFmt), where the engine has one.
func (p *tablePlan) resetIdentity(ctx context.Context, dst *Tx) error {
	if !p.identityID || p.dstDialect.resetIdentityFmt == "" {
		return nil
	}
	// #nosec G201 -- the table name comes from copyTables, not from input.
	q := fmt.Sprintf(p.dstDialect.resetIdentityFmt, quoteIdent(p.name))
	if _, err := dst.ExecContext(ctx, q, p.name); err != nil {
		return fmt.Errorf("db: copy: move the id sequence of %s: %w", p.name, err)
	}
	return nil
}

// normalize returns v, as a driver gave it, in the one Go type of its
// kind: int64, string or []byte (nil for NULL). SQLite stores what it is
// given whatever the declared type, so a text in a BLOB column is read as
// a string and written as the bytes it is; a value that cannot be its
// column's kind (a fraction in an integer column) is refused rather than
// changed.
func normalize(kind colKind, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		if kind == kindInt {
			return x, nil
		}
	case float64:
		if kind == kindInt && x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
	case string:
		switch kind {
		case kindText:
			return x, nil
		case kindBlob:
			return []byte(x), nil
		}
	case []byte:
		switch kind {
		case kindText:
			return string(x), nil
		case kindBlob:
			return x, nil
		}
	}
	return nil, fmt.Errorf("a %T value in a %s column", v, kind)
}

// rowHasher is the checksum of a table: SHA-256 over its rows in
// primary-key order, each value encoded as a kind byte and then the
// big-endian int64 or the length-prefixed bytes, so that no two different
// tables of rows encode alike.
type rowHasher struct {
	h   hash.Hash
	buf []byte
}

func newRowHasher() *rowHasher { return &rowHasher{h: sha256.New()} }

func (r *rowHasher) add(cols []copyColumn, row []any) {
	b := r.buf[:0]
	for i, v := range row {
		if v == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, byte(cols[i].kind))
		switch x := v.(type) {
		case int64:
			b = binary.BigEndian.AppendUint64(b, uint64(x)) // #nosec G115 -- the bits of the value, not a conversion of its meaning
		case string:
			b = binary.BigEndian.AppendUint64(b, uint64(len(x)))
			b = append(b, x...)
		case []byte:
			b = binary.BigEndian.AppendUint64(b, uint64(len(x)))
			b = append(b, x...)
		}
	}
	r.buf = b
	_, _ = r.h.Write(b) // a hash.Hash never returns an error
}

func (r *rowHasher) sum() []byte { return r.h.Sum(nil) }

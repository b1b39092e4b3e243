package db

import (
	"context"
	"fmt"
	"time"
)

// DayRefusals is one UTC day of a key's refused verifications, by code
// (REVOKED, EXPIRED, INSUFFICIENT_SCOPE…).
type DayRefusals struct {
	Day    time.Time // midnight UTC
	Total  int64
	ByCode map[string]int64 // nil on a day without refusals
}

const keyRefusalsSQL = `SELECT day, code, count FROM key_refusals_daily WHERE key_id = ? AND day >= ? AND day <= ?`

// KeyRefusals returns the refusals of key id per day over the last days
// days (default 30, at most MaxUsageDays), oldest first, with every day
// present, the last being today (UTC): the same days as KeyUsage, so the
// two stack into one chart. Scoped by access like KeyUsage. Refusals still
// in memory appear after the next flush.
func (s *Store) KeyRefusals(ctx context.Context, access KeyAccess, id int64, days int) ([]DayRefusals, error) {
	if days <= 0 {
		days = 30
	}
	days = min(days, MaxUsageDays)
	if err := s.checkKeyVisible(ctx, access, id); err != nil {
		return nil, err
	}
	today := dayNumber(s.Now())
	first := today - int64(days) + 1
	out := make([]DayRefusals, days)
	for i := range out {
		out[i].Day = fromMillis((first + int64(i)) * msPerDay)
	}
	rows, err := s.r.QueryContext(ctx, keyRefusalsSQL, id, first, today)
	if err != nil {
		return nil, fmt.Errorf("db: key refusals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			day, n int64
			code   string
		)
		if err := rows.Scan(&day, &code, &n); err != nil {
			return nil, fmt.Errorf("db: scan key refusals: %w", err)
		}
		d := &out[day-first]
		if d.ByCode == nil {
			d.ByCode = map[string]int64{}
		}
		d.ByCode[code] += n
		d.Total += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("db: key refusals: %w", err)
	}
	return out, nil
}

package db

import (
	"strings"
	"testing"
)

func TestRedactTarget(t *testing.T) {
	tests := []struct{ in, want string }{
		{"./data/keyward.db", "./data/keyward.db"},
		{"postgres://keyward:s3cret@db.internal:5432/keyward", "postgres://keyward:xxxxx@db.internal:5432/keyward"},
		{"postgresql://keyward@db/keyward?sslmode=require", "postgresql://keyward@db/keyward?sslmode=require"},
		{"postgres://db/keyward?user=k&password=s3cret", "postgres://db/keyward?password=xxxxx&user=k"},
		{"postgres://k:s3cret@db:bad-port/x", "postgres://(unparsable URL)"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := RedactTarget(tt.in)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("%q shows the password", got)
			}
		})
	}
}

func TestRedactIn(t *testing.T) {
	target := "postgres://keyward:s3cret@db/keyward?password=0ther"
	got := redactIn("failed to connect to postgres://keyward:s3cret@db with 0ther", target)
	if strings.Contains(got, "s3cret") || strings.Contains(got, "0ther") {
		t.Errorf("got %q, which shows a password", got)
	}
}

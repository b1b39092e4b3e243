package web

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/keyward/keyward/db"
)

// TestHourlyJobsEnqueueReminders: the hourly jobs (runJobsOnce, under the
// jobs' lease) enqueue the expiry reminders and the weekly digest: seven
// days before her key expires ann is due one e-mail, the day before one
// more, and the admin a digest in each of those weeks; running the jobs
// again in the same hour adds nothing.
func TestHourlyJobsEnqueueReminders(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	a.createUser("admin@example.com", db.RoleAdmin)
	ann := a.createUser("ann@example.com", db.RoleMember)
	exp := a.clock.Now().Add(30 * day)
	k, _ := a.storeKey(ann.ID, db.KeyInput{Name: "deploy", ExpiresAt: &exp})

	due := func() []string {
		t.Helper()
		if _, err := a.store.FanOut(ctx, db.FanOutOptions{Email: true}); err != nil {
			t.Fatalf("FanOut: %v", err)
		}
		ds, err := a.store.ClaimDeliveries(ctx, "test", 100, time.Hour)
		if err != nil {
			t.Fatalf("ClaimDeliveries: %v", err)
		}
		var out []string
		for _, d := range ds {
			if d.Channel != db.ChannelEmail || d.Event.Type == db.EventKeyCreated {
				continue
			}
			s := d.Recipient + " " + d.Event.Type
			if d.Event.Type == db.EventKeyExpiring {
				if d.Event.KeyID != k.ID {
					t.Errorf("reminder about key %d, want %d", d.Event.KeyID, k.ID)
				}
				s += " " + fmt.Sprint(d.Event.Data["days"])
			}
			out = append(out, s)
			if err := a.store.CompleteDelivery(ctx, "test", d, db.AttemptResult{OK: true, StatusCode: 250}); err != nil {
				t.Fatalf("CompleteDelivery: %v", err)
			}
		}
		sort.Strings(out)
		return out
	}
	steps := []struct {
		name    string
		advance time.Duration
		want    []string
	}{
		{"at creation: nothing", 0, nil},
		{"7 days before", 23*day + time.Hour, []string{"admin@example.com digest.weekly", "ann@example.com key.expiring 7"}},
		{"an hour later: nothing new", time.Hour, nil},
		{"the day before", 6 * day, []string{"admin@example.com digest.weekly", "ann@example.com key.expiring 1"}},
	}
	for _, st := range steps {
		a.clock.Advance(st.advance)
		a.server.runJobsOnce(ctx)
		a.server.runJobsOnce(ctx) // the same hour again: nothing twice
		if got := due(); !slices.Equal(got, st.want) {
			t.Errorf("%s: got e-mails %q, want %q", st.name, got, st.want)
		}
	}
}

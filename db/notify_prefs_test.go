package db

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"
)

// TestNotifyPrefs: every kind is on until turned off; a change is stored,
// audited with before and after, and changes who FanOut mails; a repeat of
// the same choice writes and audits nothing; an unknown kind is refused
// with nothing written; an unknown user is ErrNotFound.
func TestNotifyPrefs(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		bob := mustCreateUser(t, s, "bob@example.com", RoleMember)
		annActor := Actor{UserID: ann.ID, Label: ann.Email, IP: "192.0.2.7"}

		allOn := map[string]bool{NotifyExpiry: true, NotifyNewAddress: true, NotifyUnused: true,
			NotifyApproval: true, NotifyDigest: true}
		got, err := s.GetNotifyPrefs(ctx, ann.ID)
		if err != nil {
			t.Fatalf("GetNotifyPrefs: %v", err)
		}
		if !maps.Equal(got, allOn) {
			t.Errorf("defaults: got %v, want every kind on %v", got, allOn)
		}

		steps := []struct {
			name        string
			set         map[string]bool
			wantErr     error
			want        map[string]bool
			wantChanges map[string]Change // nil: no new audit event
		}{
			{
				name: "turn two off",
				set:  map[string]bool{NotifyNewAddress: false, NotifyDigest: false, NotifyExpiry: true},
				want: map[string]bool{NotifyExpiry: true, NotifyNewAddress: false, NotifyUnused: true,
					NotifyApproval: true, NotifyDigest: false},
				wantChanges: map[string]Change{NotifyNewAddress: {"on", "off"}, NotifyDigest: {"on", "off"}},
			},
			{
				name: "same again",
				set:  map[string]bool{NotifyNewAddress: false, NotifyDigest: false},
				want: map[string]bool{NotifyExpiry: true, NotifyNewAddress: false, NotifyUnused: true,
					NotifyApproval: true, NotifyDigest: false},
			},
			{
				name:    "unknown kind",
				set:     map[string]bool{NotifyNewAddress: true, "key.revoked": false},
				wantErr: ErrInvalid,
				want: map[string]bool{NotifyExpiry: true, NotifyNewAddress: false, NotifyUnused: true,
					NotifyApproval: true, NotifyDigest: false},
			},
			{
				name:        "one back on, the other kept",
				set:         map[string]bool{NotifyNewAddress: true},
				want:        map[string]bool{NotifyExpiry: true, NotifyNewAddress: true, NotifyUnused: true, NotifyApproval: true, NotifyDigest: false},
				wantChanges: map[string]Change{NotifyNewAddress: {"off", "on"}},
			},
		}
		audited := 0
		for _, st := range steps {
			err := s.SetNotifyPrefs(ctx, ann.ID, st.set, annActor)
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("%s: SetNotifyPrefs: got %v, want %v", st.name, err, st.wantErr)
			}
			if st.wantErr != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Fields["kinds"] == "" {
					t.Errorf("%s: got %v, want a ValidationError on field kinds", st.name, err)
				}
			}
			got, err := s.GetNotifyPrefs(ctx, ann.ID)
			if err != nil {
				t.Fatalf("%s: GetNotifyPrefs: %v", st.name, err)
			}
			if !maps.Equal(got, st.want) {
				t.Errorf("%s: got %v, want %v", st.name, got, st.want)
			}
			events, err := s.ListAudit(ctx, AuditFilter{Action: ActionNotifyPrefs})
			if err != nil {
				t.Fatalf("ListAudit: %v", err)
			}
			if st.wantChanges != nil {
				audited++
			}
			if len(events) != audited {
				t.Fatalf("%s: got %d notify.prefs events, want %d", st.name, len(events), audited)
			}
			if st.wantChanges == nil {
				continue
			}
			e := events[0]
			if e.ActorID != ann.ID || e.TargetType != "user" || e.TargetID != ann.ID || e.Target != ann.Email || e.IP != "192.0.2.7" {
				t.Errorf("%s: audit event %+v, want ann acting on herself from 192.0.2.7", st.name, e)
			}
			if !maps.Equal(e.Changes, st.wantChanges) {
				t.Errorf("%s: audit changes: got %v, want %v", st.name, e.Changes, st.wantChanges)
			}
		}

		other, err := s.GetNotifyPrefs(ctx, bob.ID)
		if err != nil || !maps.Equal(other, allOn) {
			t.Errorf("bob's choices: got %v, %v; want every kind on (ann's are hers)", other, err)
		}
		if err := s.SetNotifyPrefs(ctx, 9999, map[string]bool{NotifyExpiry: false}, CLIActor()); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown user: got %v, want ErrNotFound", err)
		}
	})
}

// TestNotifyPrefsDecideFanOut: a kind turned off is not mailed (ann turned
// off new-address mail), the same kind still reaches someone who left it
// on (bob), and a security event reaches ann whatever she chose.
func TestNotifyPrefsDecideFanOut(t *testing.T) {
	forEachEngine(t, func(t *testing.T) {
		ctx := context.Background()
		s := newTestStore(t)
		admin := mustCreateUser(t, s, "admin@example.com", RoleAdmin)
		ann := mustCreateUser(t, s, "ann@example.com", RoleMember)
		bob := mustCreateUser(t, s, "bob@example.com", RoleMember)
		off := map[string]bool{}
		for _, k := range NotifyKinds() {
			off[k] = false
		}
		if err := s.SetNotifyPrefs(ctx, ann.ID, off, Actor{UserID: ann.ID, Label: ann.Email}); err != nil {
			t.Fatalf("SetNotifyPrefs: %v", err)
		}
		annKey, _, err := s.CreateKey(ctx, ann.ID, KeyInput{Name: "ann-deploy"}, Actor{UserID: ann.ID, Label: ann.Email})
		if err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		bobKey, _, err := s.CreateKey(ctx, bob.ID, KeyInput{Name: "bob-deploy"}, Actor{UserID: bob.ID, Label: bob.Email})
		if err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		for _, k := range []Key{annKey, bobKey} {
			if err := s.Enqueue(ctx, &OutboxEvent{Type: EventKeyNewAddress, UserID: k.UserID, KeyID: k.ID,
				Data: map[string]any{"ip": "198.51.100.4"}}); err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
		}
		if _, err := s.RevokeKey(ctx, AnyOwner(), annKey.ID, "rotated", Actor{UserID: admin.ID, Label: admin.Email}); err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
		if _, err := s.FanOut(ctx, FanOutOptions{Email: true}); err != nil {
			t.Fatalf("FanOut: %v", err)
		}
		ds, err := s.ClaimDeliveries(ctx, "worker", 50, time.Minute)
		if err != nil {
			t.Fatalf("ClaimDeliveries: %v", err)
		}
		got := map[string]bool{}
		for _, d := range ds {
			if d.Channel == ChannelEmail {
				got[d.Recipient+" "+d.Event.Type] = true
			}
		}
		want := map[string]bool{
			"bob@example.com " + EventKeyNewAddress: true,
			"ann@example.com " + EventKeyRevoked:    true,
		}
		if !maps.Equal(got, want) {
			t.Errorf("e-mails: got %v, want %v", got, want)
		}
	})
}

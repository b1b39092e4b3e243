package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyward/keyward/db"
)

// Long values, the kind that pushed columns out of view: an email, a key
// name and a revoke reason at or near their limits.
var (
	longEmail  = "maximiliane.featherstonehaugh-worthington@accounts-payable.eu-west.example.com"
	longName   = "Quarterly reconciliation export for the finance data warehouse (production, eu-west-1) v2"
	longReason = "Rotated after the incident review: the key was pasted into a shared runbook, " +
		"copied to two build servers and a laptop, and nobody could say which of them still needed it; " +
		"replacement keys were issued per service. " + strings.Repeat("See ticket SEC-4821. ", 4)
)

// seedLongRows gives an admin with a long email keys in every state with
// long names: one revoked with a long reason, one expiring soon, one
// disabled, and unused ones that are stale by now.
func seedLongRows(t *testing.T, a *testApp) db.User {
	t.Helper()
	ctx := context.Background()
	admin := a.createUser(longEmail, db.RoleAdmin)
	actor := db.Actor{UserID: admin.ID, Label: admin.Email, IP: "2001:db8:85a3:1234:5678:8a2e:370:7334"}
	for i := range 3 {
		seedUnusedKey(t, a, admin.ID, fmt.Sprintf("%s (stale %d)", longName, i))
	}
	a.clock.Advance(100 * 24 * time.Hour)
	soon := a.clock.Now().Add(3 * 24 * time.Hour)
	for _, in := range []db.KeyInput{
		{Name: longName + " (expiring)", ExpiresAt: &soon, Scopes: []string{"read:invoices", "write:invoices", "admin:reconciliation"}},
		{Name: longName + " (disabled)"},
		{Name: longName + " (revoked)"},
	} {
		k, _, err := a.store.CreateKey(ctx, admin.ID, in, actor)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(in.Name, "(disabled)"):
			_, err = a.store.SetKeyDisabled(ctx, db.OwnedBy(admin.ID), k.ID, true, longReason, actor)
		case strings.HasSuffix(in.Name, "(revoked)"):
			_, err = a.store.RevokeKey(ctx, db.OwnedBy(admin.ID), k.ID, longReason, actor)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	a.createUser("short@example.com", db.RoleMember)
	return admin
}

// tablePage is a page with a table (or the bulk list) to measure; load
// brings the tab to it.
type tablePage struct {
	name  string
	load  func()
	table string // CSS of the table or list that must fit
}

// layoutCheck measures, at the current viewport, what a person would find
// cut off: header cells and badges outside their table's visible box or
// the viewport, a table that scrolls sideways, a page that does.
const layoutCheck = `(() => {
	const out = {problems: [], stacked: false, labels: 0, cells: 0};
	const vw = document.documentElement.clientWidth;
	if (document.documentElement.scrollWidth > vw) {
		out.problems.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " > " + vw);
	}
	const table = document.querySelector(%s);
	if (!table) { out.problems.push("no table"); return out; }
	const box = (table.closest(".overflow-x-auto") || table.parentElement).getBoundingClientRect();
	const scroller = table.closest(".overflow-x-auto");
	if (scroller && scroller.scrollWidth > scroller.clientWidth) {
		out.problems.push("the table scrolls sideways: " + scroller.scrollWidth + " > " + scroller.clientWidth);
	}
	const thead = table.querySelector("thead");
	out.stacked = !!thead && getComputedStyle(thead).display === "none";
	const check = (el, what) => {
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.height === 0) return;
		if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.left < -0.5 || r.right > vw + 0.5) {
			out.problems.push(what + " " + JSON.stringify(el.textContent.trim().slice(0, 30)) +
				" at " + Math.round(r.left) + "–" + Math.round(r.right) + ", outside " + Math.round(box.left) + "–" + Math.round(Math.min(box.right, vw)));
		}
		if (el.scrollWidth > el.clientWidth + 0.5) {
			out.problems.push(what + " " + JSON.stringify(el.textContent.trim()) + " is clipped inside");
		}
	};
	table.querySelectorAll("th").forEach(th => check(th, "header"));
	table.querySelectorAll('[data-testid="status-badge"], [data-testid="role-badge"], [data-testid="user-status"]').forEach(b => check(b, "badge"));
	table.querySelectorAll("td[data-label]").forEach(td => {
		out.cells++;
		const c = getComputedStyle(td, "::before");
		if (c.display !== "none" && c.content === JSON.stringify(td.dataset.label)) out.labels++;
	});
	return out;
})()`

type layoutResult struct {
	Problems []string `json:"problems"`
	Stacked  bool     `json:"stacked"`
	Labels   int      `json:"labels"`
	Cells    int      `json:"cells"`
}

// TestBrowserTablesFit loads every table with long names, emails and
// reasons in it. From 1280 px up every column, header and status badge is
// inside the table's visible box and the viewport, and nothing scrolls
// sideways; on a 390 px phone the rows are cards whose cells name their
// column, and the page does not scroll sideways either.
func TestBrowserTablesFit(t *testing.T) {
	a := newTestApp(t)
	admin := seedLongRows(t, a)
	tb := newTabTimeout(t, a, 2*browserTimeout)
	tb.login(admin.Email, testPassword)
	a.browser().login(admin.Email, testPassword) // a second session on /account

	pages := []tablePage{
		{"keys", func() { tb.open("/keys") }, `[data-testid="keys-table"]`},
		{"account sessions", func() { tb.open("/account") }, `[data-testid="sessions-table"]`},
		{"admin all keys", func() { tb.open("/admin/keys") }, `[data-testid="admin-keys-table"]`},
		{"admin stale review", func() { tb.open("/admin/keys?stale=1") }, `[data-testid="admin-keys-table"]`},
		{"admin users", func() { tb.open("/admin/users") }, `[data-testid="users-table"]`},
		{"admin audit", func() { tb.open("/admin/audit") }, `[data-testid="audit-table"]`},
		{"admin bulk confirm", func() {
			tb.open("/admin/keys?stale=1")
			evalJS[bool](tb, `[...document.querySelectorAll('input[name="id"]')].every(b => (b.checked = true))`)
			tb.navigates("revoke selected", chromedp.Click(button("Revoke selected")))
		}, `[data-testid="bulk-keys"]`},
	}
	viewports := []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"1280", 1280, 800, false},
		{"1366", 1366, 768, false},
		{"390", 390, 844, true},
	}
	for _, vp := range viewports {
		var opts []chromedp.EmulateViewportOption
		if vp.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		tb.do("viewport "+vp.name, chromedp.EmulateViewport(vp.width, vp.height, opts...))
		for _, p := range pages {
			t.Run(vp.name+"/"+p.name, func(t *testing.T) {
				p.load()
				tb.waitVisible(chromedp.CSS(p.table))
				got := evalJS[layoutResult](tb, fmt.Sprintf(layoutCheck, jsString(p.table)))
				for _, problem := range got.Problems {
					t.Errorf("%s at %s px: %s", p.name, vp.name, problem)
				}
				if p.name == "admin bulk confirm" {
					return // a list, not a table
				}
				wantStacked := vp.width < 1280
				if got.Stacked != wantStacked {
					t.Errorf("%s at %s px: got stacked %t, want %t", p.name, vp.name, got.Stacked, wantStacked)
				}
				wantLabels := 0
				if wantStacked {
					wantLabels = got.Cells
				}
				if got.Cells == 0 || got.Labels != wantLabels {
					t.Errorf("%s at %s px: got %d of %d cells showing their column's name, want %d", p.name, vp.name, got.Labels, got.Cells, wantLabels)
				}
				if p.name == "admin all keys" && wantStacked {
					// The header's select-all is hidden with the header:
					// the toolbar's stands in for it.
					tb.click(visibleXPath(`//label[normalize-space()="Select all on this page"]`))
					if n := tb.count(`input[name="id"]:not(:checked)`); n != 0 {
						t.Errorf("Select all on this page: got %d keys left unchecked, want 0", n)
					}
				}
			})
		}
	}
}

package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/keyward/db"
)

// TestDocsAlertRules holds docs/alerts.md to the code: its table of rules
// lists exactly db.AlertRules, in their order, each with the default
// threshold db.DefaultActivityRules sets. A rule added, or a default
// changed, without its documentation fails here.
func TestDocsAlertRules(t *testing.T) {
	b, err := os.ReadFile("docs/alerts.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|(.*)$")
	var rules []string
	rows := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		rules = append(rules, m[1])
		rows[m[1]] = m[2]
	}
	if want := db.AlertRules(); !slices.Equal(rules, want) {
		t.Errorf("docs/alerts.md rule table:\n got %v\nwant %v (db.AlertRules, in order)", rules, want)
	}
	r := db.DefaultActivityRules()
	defaults := map[string]string{
		db.RuleDeadKey:       fmt.Sprintf("on, %d refusals", r.DeadKeyMinRefusals),
		db.RuleSpike:         fmt.Sprintf("on, %d×, %d uses", r.SpikeFactor, r.SpikeMinUses),
		db.RuleManyAddresses: fmt.Sprintf("on, %d addresses", r.ManyAddresses),
		db.RuleDormantUse:    fmt.Sprintf("on, %d days", r.DormantDays),
	}
	for rule, want := range defaults {
		if !strings.Contains(rows[rule], "| "+want+" |") {
			t.Errorf("docs/alerts.md %s row: got %q, want the default %q", rule, rows[rule], want)
		}
	}
}

package views

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestAlertEvidence: evidence as the rules store it (JSON numbers,
// lists, hours since the epoch) in the words the page and e-mail show.
func TestAlertEvidence(t *testing.T) {
	var ev map[string]any
	raw := `{"addresses":["203.0.113.7",{"ip":"198.51.100.2","count":1204}],"attempts":1204,"hour":491000,
		"zz_extra":"x","typical_hour":12.5,"url":"https://github.com/acme/app/blob/main/.env"}`
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		t.Fatal(err)
	}
	got := AlertEvidence(ev)
	var keys []string
	for _, it := range got {
		keys = append(keys, it.Key)
	}
	if want := []string{"attempts", "typical_hour", "hour", "addresses", "url", "zz_extra"}; !slices.Equal(keys, want) {
		t.Errorf("order: got %v, want %v", keys, want)
	}
	want := map[string]EvidenceItem{
		"attempts":     {Key: "attempts", Label: "Attempts", Value: "1,204"},
		"typical_hour": {Key: "typical_hour", Label: "Typical hour", Value: "12.5"},
		"hour":         {Key: "hour", Label: "Hour", Value: "Mon 5 Jan 2026, 08:00 UTC"},
		"addresses":    {Key: "addresses", Label: "Addresses", List: []string{"203.0.113.7", "198.51.100.2 (1,204)"}},
		"zz_extra":     {Key: "zz_extra", Label: "Zz extra", Value: "x"},
	}
	for _, it := range got {
		w, ok := want[it.Key]
		if !ok {
			continue
		}
		if it.Label != w.Label || it.Value != w.Value || !slices.Equal(it.List, w.List) {
			t.Errorf("%s: got %+v, want %+v", it.Key, it, w)
		}
	}
	many := make([]any, 25)
	for i := range many {
		many[i] = "192.0.2.1"
	}
	if l := AlertEvidence(map[string]any{"addresses": many})[0].List; len(l) != maxEvidenceList+1 || l[maxEvidenceList] != "and 5 more" {
		t.Errorf("long list: got %d items ending %q", len(l), l[len(l)-1])
	}
}

func TestFormatCountAndBadge(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1204: "1,204", 1234567: "1,234,567", -1204: "-1,204"} {
		if got := FormatCount(n); got != want {
			t.Errorf("FormatCount(%d): got %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int]string{0: "", 3: "3", 99: "99", 100: "99+"} {
		if got := AlertsBadge(n); got != want {
			t.Errorf("AlertsBadge(%d): got %q, want %q", n, got, want)
		}
	}
}

package notify

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/keyward/keyward/views"
)

// render writes m as the plain-text part and the HTML part (the templ
// template views.MailHTML). The text part is written here rather than by
// a template of its own so it carries exactly the same words, unescaped:
// an address "a&b@example.com" reads as typed, not as "a&amp;b".
func render(ctx context.Context, m views.MailMessage) (text, html string, err error) {
	var h bytes.Buffer
	if err := views.MailHTML(m).Render(ctx, &h); err != nil {
		return "", "", fmt.Errorf("notify: render %q: %w", m.Subject, err)
	}
	return renderText(m), h.String(), nil
}

// renderText is the plain-text part: paragraphs, "Label: value" facts,
// the action as a bare URL on its own line (mail clients make it a
// link), the digest's lists, and the footer after the "-- " signature
// separator.
func renderText(m views.MailMessage) string {
	var b strings.Builder
	b.WriteString(m.Heading + "\n\n")
	for _, p := range m.Paragraphs {
		b.WriteString(p + "\n\n")
	}
	if len(m.Facts) > 0 {
		for _, f := range m.Facts {
			b.WriteString(f.Label + ": " + f.Value + "\n")
		}
		b.WriteString("\n")
	}
	if m.Action != nil {
		b.WriteString(m.Action.Label + ":\n" + m.Action.URL + "\n\n")
	}
	for _, l := range m.Lists {
		b.WriteString(l.Title + "\n")
		if len(l.Items) == 0 {
			b.WriteString(l.Empty + "\n")
		}
		for _, it := range l.Items {
			b.WriteString("- " + it.Label)
			if it.Detail != "" {
				b.WriteString(" — " + it.Detail)
			}
			b.WriteString("\n")
			if it.URL != "" {
				b.WriteString("  " + it.URL + "\n")
			}
		}
		b.WriteString("\n")
	}
	if m.Footer != "" {
		b.WriteString("-- \n" + m.Footer + "\n")
		if m.FooterLink != nil {
			b.WriteString(m.FooterLink.Label + ": " + m.FooterLink.URL + "\n")
		}
	}
	return b.String()
}

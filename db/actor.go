package db

import (
	"context"
	"fmt"
)

// Actor is who performs a change, recorded in the audit log. Every write
// method that changes security-relevant state takes one, so the audit trail
// cannot be forgotten by a caller.
type Actor struct {
	// UserID is the signed-in user, or 0 for the CLI or the system itself.
	UserID int64
	// Label is shown in the audit log: the user's email, "cli", "system",
	// or "key #ID (name)" for a key (KeyActor).
	Label string
	// IP is the client address as the web layer determined it ("" for the CLI).
	IP string
	// TokenID is the management token acting for UserID (0 when the
	// person acts through the dashboard). Audit events record it.
	TokenID int64
}

// CLIActor is the operator running a keyward subcommand on the host.
func CLIActor() Actor { return Actor{Label: "cli"} }

// SystemActor is Keyward acting on its own (expiry sweeps, start-up work).
func SystemActor() Actor { return Actor{Label: "system"} }

// KeyActor is an API key acting by being used: a use from a new address is
// the key's doing, not Keyward's. Its label names the key by id (which
// never changes) and by the name it had then.
func KeyActor(id int64, name string) Actor {
	return Actor{Label: fmt.Sprintf("key #%d (%s)", id, name)}
}

// event starts an audit event performed by a.
func (a Actor) event(action, targetType string, targetID int64, target string) AuditEvent {
	return AuditEvent{
		ActorID:    a.UserID,
		Actor:      a.Label,
		Action:     action,
		TargetType: targetType,
		TargetID:   targetID,
		Target:     target,
		IP:         a.IP,
		TokenID:    a.TokenID,
	}
}

// userContextKey carries the signed-in user in a request's context.
type userContextKey struct{}

// NewContextWithUser returns ctx carrying u, the signed-in user (nil for a
// visitor). The browser-session middleware sets it, so that code below the
// handlers (the request log, for one) knows who is acting without being
// handed the session.
func NewContextWithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userContextKey{}, u)
}

// UserFromContext returns the signed-in user carried by ctx, or nil.
func UserFromContext(ctx context.Context) *User {
	u, _ := ctx.Value(userContextKey{}).(*User)
	return u
}

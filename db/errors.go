package db

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinel kinds. The web layer maps them to HTTP statuses in one place.
var (
	// ErrNotFound: the row does not exist or is not visible to the caller
	// (another user's key is "not found", never "forbidden").
	ErrNotFound = errors.New("not found")
	// ErrConflict: the action is not allowed in the row's current state
	// (rolling a revoked key, demoting the last admin, a used token).
	ErrConflict = errors.New("conflict")
	// ErrInvalidCredentials: the one generic sign-in failure.
	ErrInvalidCredentials = errors.New("invalid email or password")
	// ErrInvalid: bad input; usually wrapped in a *ValidationError.
	ErrInvalid = errors.New("invalid input")
)

// Error is an error whose Message is safe to show to a user; Kind is one of
// the sentinels above and decides the HTTP status.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// Errorf returns an *Error of the given kind with a user-facing message.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// FieldError is what a validator of one value returns: a message safe to
// show beside the field the value came from. The validator does not know
// the form (a password is "password" on one and "new_password" on
// another), so the caller places it with ValidationError.AddErr. It
// unwraps to ErrInvalid.
type FieldError struct {
	Message string
}

func (e *FieldError) Error() string { return e.Message }
func (e *FieldError) Unwrap() error { return ErrInvalid }

// invalidf returns a *FieldError with a formatted message.
func invalidf(format string, args ...any) error {
	return &FieldError{Message: fmt.Sprintf(format, args...)}
}

// ValidationError lists problems with input, by form field name, so that a
// form can show each message beside its field. It unwraps to ErrInvalid.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+e.Fields[k])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Add records a problem with field, keeping the first message per field.
func (e *ValidationError) Add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	if _, ok := e.Fields[field]; !ok {
		e.Fields[field] = msg
	}
}

// AddErr records err for field: the message of a *FieldError, or a generic
// one for any other error (whose text is not for users). A nil err adds
// nothing.
func (e *ValidationError) AddErr(field string, err error) {
	if err == nil {
		return
	}
	if fe, ok := errors.AsType[*FieldError](err); ok {
		e.Add(field, fe.Message)
		return
	}
	e.Add(field, "This value is not valid.")
}

// Err returns e if it holds any problem, else nil.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// FieldErrors extracts per-field messages from err, or nil.
func FieldErrors(err error) map[string]string {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Fields
	}
	return nil
}

// Package apperr defines the application's error codes. Code below the HTTP
// layer returns *Error values to say what went wrong in domain terms
// (not found, invalid, conflict...); httpapi maps each code to one HTTP status
// in one table, and the pipeline turns them into readable failure reasons.
//
// Any error that is not an *Error (or does not wrap one) is internal: its text
// is logged and reported, never shown to a caller.
package apperr

import (
	"errors"
	"fmt"
)

// Code is the kind of an application error.
type Code string

// The codes. Each maps to one HTTP status in httpapi.
const (
	Invalid          Code = "invalid"         // the request is malformed or a value is out of range
	Unauthenticated  Code = "unauthenticated" // no valid session
	Forbidden        Code = "forbidden"       // signed in, but not allowed (CSRF, disabled route)
	NotFound         Code = "not_found"       // missing, or owned by someone else
	MethodNotAllowed Code = "method_not_allowed"
	Conflict         Code = "conflict"          // the state does not allow it (already completed, ...)
	Unprocessable    Code = "unprocessable"     // well-formed but refused (idempotency key reuse, ...)
	TooLarge         Code = "too_large"         // body or declared size over the limit
	UnsupportedMedia Code = "unsupported_media" // wrong Content-Type
	RateLimited      Code = "rate_limited"      // too many requests
	Unavailable      Code = "unavailable"       // a dependency is down; try later
	Internal         Code = "internal"          // a bug or an unexpected failure
)

// Error is an application error with a message that is safe to show.
type Error struct {
	Code    Code
	Message string // shown to the caller
	Field   string // the offending input field, when there is one
	Err     error  // the cause, for logs; never shown
}

// Error returns the message, with the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidField returns an Invalid error about one input field.
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Code: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with a message and a cause kept for logs.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

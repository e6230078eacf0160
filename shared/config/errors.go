package config

import (
	"fmt"
	"strings"
)

// VarError is one problem with one variable. Reason never contains the
// variable's value when that value may be secret.
type VarError struct {
	Name   string // the variable as the user set it (or should set it), e.g. "AUTH_SECRET"
	Reason string // what is wrong and, where useful, how to fix it, e.g. "is required when STAGE=staging"
}

// Error returns "config: NAME reason".
func (e *VarError) Error() string {
	return "config: " + e.Name + " " + e.Reason
}

// SecretsError reports that the parameter store could not be read. Load
// returns it alone, since every later check would depend on the values it
// could not read.
type SecretsError struct {
	Path string // the SSM path, e.g. "/redub/staging/"
	Err  error
}

// Error names the path and the store's error.
func (e *SecretsError) Error() string {
	return fmt.Sprintf("config: read SSM parameters under %s: %v", e.Path, e.Err)
}

// Unwrap returns the store's error.
func (e *SecretsError) Unwrap() error { return e.Err }

// DotEnvError reports a line of a dotenv file that is not KEY=VALUE. It names
// the file and the line where the bad statement starts, not the line's text,
// which may hold a secret.
type DotEnvError struct {
	Path string
	Line int
}

// Error returns "config: path:line: ...".
func (e *DotEnvError) Error() string {
	return fmt.Sprintf("config: %s:%d: not a KEY=VALUE line (names are letters, digits, '_' and '.'; quoted values must be closed)", e.Path, e.Line)
}

// oneOf formats allowed values for a reason: "a, b or c".
func oneOf(values ...string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

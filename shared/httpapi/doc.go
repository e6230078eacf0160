// Package httpapi holds what every HTTP handler shares: JSON decoding with a
// body size limit, JSON encoding, and RFC 9457 problem+json errors with one
// table from apperr codes to HTTP statuses.
//
// Handlers are plain net/http handlers; lambdarun adapts them to API Gateway
// HTTP API (payload format 2.0) events. A handler decodes, calls its service,
// and encodes; every error goes through Error, which never shows a caller a
// stack trace, SQL or an internal error's text, and answers 5xx only for real
// server faults.
package httpapi

package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/httpapi"
	"github.com/redub/redub/shared/obs"
	"github.com/redub/redub/shared/postgres"
)

const (
	// SessionTTL is how long a session lives after it was last used, and
	// never past Options.MaxAge after it was opened.
	SessionTTL = 30 * 24 * time.Hour
	// touchAfter is how stale last_seen_at may get before a use extends
	// the session, so that most requests do not write.
	touchAfter = time.Hour
	// tokenBytes is the size of a session token: 256 random bits.
	tokenBytes = 32
)

// Sessions opens, checks and revokes sessions, and is the middleware that
// puts the signed-in user in a request's context.
type Sessions struct {
	db     *postgres.DB
	opts   Options
	secret []byte
	cookie string // the session cookie's name
	origin string // AppURL's origin, for the Origin rule
}

// NewSessions returns Sessions over db. It fails when opts has no Secret or
// no absolute http(s) AppURL.
func NewSessions(db *postgres.DB, opts Options) (*Sessions, error) {
	if db == nil {
		return nil, errors.New("auth: NewSessions needs a database")
	}
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	name := "redub_session"
	if opts.secure() {
		// __Host-: the browser accepts it only if Secure, Path=/, no Domain,
		// so no sibling subdomain can plant or overwrite it.
		name = "__Host-redub_session"
	}
	return &Sessions{db: db, opts: opts, secret: []byte(opts.Secret), cookie: name, origin: origin(opts.AppURL)}, nil
}

// CookieName returns the session cookie's name: "__Host-redub_session" when
// AppURL is https, "redub_session" otherwise.
func (s *Sessions) CookieName() string { return s.cookie }

// Open starts a session for the user and returns its token (to be given to
// the client, and never stored) and its expiry.
func (s *Sessions) Open(ctx context.Context, userID uuid.UUID, ip, userAgent string) (string, time.Time, error) {
	return s.open(ctx, s.db, userID, ip, userAgent)
}

// OpenTx is Open inside tx.
func (s *Sessions) OpenTx(ctx context.Context, tx pgx.Tx, userID uuid.UUID, ip, userAgent string) (string, time.Time, error) {
	return s.open(ctx, tx, userID, ip, userAgent)
}

func (s *Sessions) open(ctx context.Context, q postgres.Querier, userID uuid.UUID, ip, userAgent string) (string, time.Time, error) {
	raw := make([]byte, tokenBytes)
	_, _ = rand.Read(raw) // never fails (crypto/rand crashes the program instead)
	token := base64.RawURLEncoding.EncodeToString(raw)
	id, err := uuid.NewRandom()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("new session id: %w", err)
	}
	now := s.now()
	expires := now.Add(min(SessionTTL, s.opts.MaxAge))
	_, err = q.Exec(ctx, `
		INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $4, $5, $6, $7)`,
		id, userID, s.hash(token), now, expires, clip(ip, 64), clip(userAgent, 512))
	if err != nil {
		var pg *pgconn.PgError
		if errors.As(err, &pg) && pg.Code == "23503" {
			return "", time.Time{}, apperr.Wrap(apperr.NotFound, err, "user %s not found", userID)
		}
		return "", time.Time{}, fmt.Errorf("insert session: %w", err)
	}
	return token, expires, nil
}

// session is what authenticate learns about a live session.
type session struct {
	expires  time.Time
	extended bool // this use moved expires forward
}

// Authenticate returns the user whose live session token is. It fails with
// apperr.Unauthenticated when the token is malformed, unknown, expired or
// revoked, or opened more than Options.MaxAge ago. A use more than an hour
// after the last recorded one extends the session to 30 days from now, but
// never past MaxAge after it was opened.
func (s *Sessions) Authenticate(ctx context.Context, token string) (User, error) {
	u, _, err := s.authenticate(ctx, token)
	return u, err
}

func (s *Sessions) authenticate(ctx context.Context, token string) (User, session, error) {
	hash := s.hash(token)
	if hash == nil {
		return User{}, session{}, errSignedOut
	}
	now := s.now()
	// One round trip; it writes only when last_seen_at is stale.
	row := s.db.QueryRow(ctx, `
		WITH s AS (
			SELECT id, user_id, expires_at, last_seen_at, created_at FROM sessions
			WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND created_at > $5
		), slid AS (
			UPDATE sessions SET last_seen_at = $2,
				expires_at = LEAST($3::timestamptz, s.created_at + $6::bigint * interval '1 microsecond')
			FROM s
			WHERE sessions.id = s.id AND s.last_seen_at < $4 AND sessions.revoked_at IS NULL
			RETURNING sessions.expires_at
		)
		SELECT u.id, u.email, u.name, u.picture_url, u.created_at,
			COALESCE((SELECT expires_at FROM slid), s.expires_at), EXISTS (SELECT 1 FROM slid)
		FROM s JOIN users u ON u.id = s.user_id`,
		hash, now, now.Add(SessionTTL), now.Add(-touchAfter), now.Add(-s.opts.MaxAge), s.opts.MaxAge.Microseconds())
	var sess session
	u, err := scanUser(row, &sess.expires, &sess.extended)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, session{}, errSignedOut
	}
	if err != nil {
		return User{}, session{}, fmt.Errorf("look up session: %w", err)
	}
	return u, sess, nil
}

var errSignedOut = apperr.New(apperr.Unauthenticated, "not signed in, or the session has expired; sign in again")

// Revoke ends the session whose token is. Revoking an unknown, malformed,
// expired or already revoked token does nothing and is not an error.
func (s *Sessions) Revoke(ctx context.Context, token string) error {
	hash := s.hash(token)
	if hash == nil {
		return nil
	}
	if _, err := s.db.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL`,
		hash, s.now()); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeAll ends every live session of the user (signing them out on every
// device) and returns how many it ended.
func (s *Sessions) RevokeAll(ctx context.Context, userID uuid.UUID) (int64, error) {
	tag, err := s.db.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
		userID, s.now())
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of user %s: %w", userID, err)
	}
	return tag.RowsAffected(), nil
}

// hash returns HMAC-SHA256(Secret, token), what sessions.token_hash holds, or
// nil when token cannot be one of ours.
func (s *Sessions) hash(token string) []byte {
	if base64.RawURLEncoding.DecodedLen(len(token)) != tokenBytes {
		return nil
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token); err != nil {
		return nil
	}
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(token))
	return m.Sum(nil)
}

func (s *Sessions) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// credential is the session token a request presents.
type credential struct {
	token  string
	cookie bool // it came in the session cookie (an ambient credential)
}

// credential reads the bearer token, or else the session cookie. A request
// may present neither (token ""); an Authorization header that is not
// "Bearer <token>" is an error.
func (s *Sessions) credential(r *http.Request) (credential, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return credential{}, apperr.New(apperr.Unauthenticated, `the Authorization header must be "Bearer <token>"`)
		}
		return credential{token: token}, nil
	}
	if c, err := r.Cookie(s.cookie); err == nil && c.Value != "" {
		return credential{token: c.Value, cookie: true}, nil
	}
	return credential{}, nil
}

// checkOrigin is the CSRF rule for cookie-authenticated requests: a request
// that may change state must say, in Origin or else Referer, that it comes
// from the app itself.
func (s *Sessions) checkOrigin(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if o := r.Header.Get("Origin"); o != "" {
		if sameOrigin(o, s.origin) {
			return nil
		}
		return apperr.New(apperr.Forbidden, "this request comes from another site (Origin); cookie-authenticated requests that change state must come from %s", s.origin)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		if sameOrigin(ref, s.origin) {
			return nil
		}
		return apperr.New(apperr.Forbidden, "this request comes from another site (Referer); cookie-authenticated requests that change state must come from %s", s.origin)
	}
	return apperr.New(apperr.Forbidden, "cookie-authenticated requests that change state need an Origin or Referer header from %s (or use an Authorization: Bearer token)", s.origin)
}

// Require is the middleware of every signed-in route. It reads the session
// from an Authorization: Bearer token or else the session cookie, applies the
// Origin rule to cookie-authenticated requests other than GET, HEAD and
// OPTIONS (403 problem), checks the session (401 problem when there is none,
// or it is unknown, expired or revoked) and calls next with the User in the
// context (see UserFrom). When the use extends a cookie session, the cookie
// is sent again with the new expiry; a dead session's cookie is cleared.
func (s *Sessions) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, err := s.credential(r)
		if err == nil && cred.token == "" {
			err = errSignedOut
		}
		if err == nil && cred.cookie {
			err = s.checkOrigin(r)
		}
		var (
			u    User
			sess session
		)
		if err == nil {
			u, sess, err = s.authenticate(r.Context(), cred.token)
		}
		if err != nil {
			if apperr.CodeOf(err) == apperr.Unauthenticated {
				if cred.cookie {
					s.clearCookie(w)
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="redub"`)
			}
			httpapi.Error(w, r, err)
			return
		}
		if cred.cookie && sess.extended {
			s.setCookie(w, cred.token, sess.expires)
		}
		ctx := obs.With(WithUser(r.Context(), u), "user_id", u.ID.String())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// setCookie sends the session cookie. HttpOnly keeps it from scripts;
// SameSite=Lax keeps it off cross-site subrequests and POSTs (the Origin rule
// covers the rest).
func (s *Sessions) setCookie(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // HttpOnly and SameSite always; Secure whenever AUTH_URL is https (plain-HTTP localhost only otherwise)
		Name:     s.cookie,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		MaxAge:   max(1, int(expires.Sub(s.now()).Seconds())),
		Secure:   s.opts.secure(),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Sessions) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // HttpOnly and SameSite always; Secure whenever AUTH_URL is https (plain-HTTP localhost only otherwise)
		Name:     s.cookie,
		Path:     "/",
		MaxAge:   -1,
		Secure:   s.opts.secure(),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

// clientIP returns the caller's address: lambdarun puts API Gateway's source
// IP in RemoteAddr, without a port.
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

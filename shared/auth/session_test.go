package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/auth/authtest"
)

func TestTokensAreStoredHashed(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	_, token := authtest.SignIn(t, f.sessions, f.users, "hash@example.com")
	raw, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err)
	require.Len(t, raw, 32, "256-bit tokens")

	var hash []byte
	var row string
	require.NoError(t, f.db.QueryRow(t.Context(), `SELECT token_hash, s::text FROM sessions s`).Scan(&hash, &row))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(token))
	require.Equal(t, m.Sum(nil), hash, "token_hash is HMAC-SHA256(AUTH_SECRET, token)")
	require.NotContains(t, row, token)
	require.NotContains(t, row, hex.EncodeToString(raw))

	// Nothing anywhere in the database holds the token.
	var n int
	require.NoError(t, f.db.QueryRow(t.Context(), `
		SELECT (SELECT count(*) FROM sessions s WHERE s::text LIKE '%' || $1 || '%' OR position($2::bytea IN s.token_hash) > 0)
		     + (SELECT count(*) FROM users u WHERE u::text LIKE '%' || $1 || '%')`, token, raw).Scan(&n))
	require.Zero(t, n)
}

func TestSessionOpenAndAuthenticate(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	user, err := f.users.UpsertLocal(t.Context(), "open@example.com", "Open")
	require.NoError(t, err)
	token, expires, err := f.sessions.Open(t.Context(), user.ID, "203.0.113.9", "agent")
	require.NoError(t, err)
	require.WithinDuration(t, f.clock.Now().Add(auth.SessionTTL), expires, time.Millisecond)
	other, _, err := f.sessions.Open(t.Context(), user.ID, "", "")
	require.NoError(t, err)
	require.NotEqual(t, token, other)

	got, err := f.sessions.Authenticate(t.Context(), token)
	require.NoError(t, err)
	require.Equal(t, user.ID, got.ID)
	require.Equal(t, "open@example.com", got.Email)

	var ip, agent string
	require.NoError(t, f.db.QueryRow(t.Context(), `SELECT ip, user_agent FROM sessions WHERE expires_at = $1`, expires).Scan(&ip, &agent))
	require.Equal(t, []string{"203.0.113.9", "agent"}, []string{ip, agent})

	for _, bad := range []string{"", "x", token + "A", token[:42], token[:42] + "!", other[:10] + token[10:]} {
		_, err := f.sessions.Authenticate(t.Context(), bad)
		require.Equal(t, apperr.Unauthenticated, apperr.CodeOf(err), "%q: %v", bad, err)
	}

	_, _, err = f.sessions.Open(t.Context(), uuid.New(), "", "")
	require.Equal(t, apperr.NotFound, apperr.CodeOf(err), "a session for no user: %v", err)
}

func TestSessionSlidingExpiry(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	_, token := authtest.SignIn(t, f.sessions, f.users, "slide@example.com")
	opened := f.clock.Now()
	state := func() (lastSeen, expires time.Time) {
		require.NoError(t, f.db.QueryRow(t.Context(), `SELECT last_seen_at, expires_at FROM sessions`).Scan(&lastSeen, &expires))
		return lastSeen, expires
	}
	seen0, exp0 := state()
	require.True(t, exp0.Equal(opened.Add(auth.SessionTTL)))

	// Used within the hour: no write.
	f.clock.Add(30 * time.Minute)
	_, err := f.sessions.Authenticate(t.Context(), token)
	require.NoError(t, err)
	seen, exp := state()
	require.True(t, seen.Equal(seen0) && exp.Equal(exp0), "a use within the hour must not write")

	// Used after 2 hours: extended to 30 days from now, in the cookie too.
	f.clock.Add(90 * time.Minute)
	cookie := &http.Cookie{Name: f.sessions.CookieName(), Value: token}
	w := f.do(t, http.MethodGet, "/me", "", withCookie(cookie))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	seen, exp = state()
	now := f.clock.Now()
	require.True(t, seen.Equal(now), "last_seen_at %s, want %s", seen, now)
	require.True(t, exp.Equal(now.Add(auth.SessionTTL)), "expires_at %s, want %s", exp, now.Add(auth.SessionTTL))
	require.True(t, exp.After(exp0))
	renewed := cookieNamed(t, w, f.sessions.CookieName())
	require.Equal(t, int(auth.SessionTTL.Seconds()), renewed.MaxAge)
	require.Equal(t, token, renewed.Value)

	// The next request within the hour neither writes nor resends the cookie.
	f.clock.Add(time.Minute)
	w = f.do(t, http.MethodGet, "/me", "", withCookie(cookie))
	require.Equal(t, http.StatusOK, w.Code)
	require.Empty(t, w.Result().Cookies())

	// Unused for 30 days: expired and refused.
	f.clock.Add(auth.SessionTTL)
	_, err = f.sessions.Authenticate(t.Context(), token)
	require.Equal(t, apperr.Unauthenticated, apperr.CodeOf(err))
	w = f.do(t, http.MethodGet, "/me", "", withCookie(cookie))
	requireProblem(t, w, http.StatusUnauthorized, "unauthenticated")
	require.Negative(t, cookieNamed(t, w, f.sessions.CookieName()).MaxAge, "a dead session's cookie is cleared")
	_, exp2 := state()
	require.True(t, exp2.Equal(exp), "an expired session is not revived")
}

func TestSessionExpiresWithoutUse(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	_, token := authtest.SignIn(t, f.sessions, f.users, "idle@example.com")
	f.clock.Add(auth.SessionTTL - time.Second)
	_, err := f.sessions.Authenticate(t.Context(), token)
	require.NoError(t, err, "alive one second before expiry")

	_, token = authtest.SignIn(t, f.sessions, f.users, "idle2@example.com")
	f.clock.Add(auth.SessionTTL)
	_, err = f.sessions.Authenticate(t.Context(), token)
	require.Equal(t, apperr.Unauthenticated, apperr.CodeOf(err))
}

func TestRevokedSessionRefused(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	_, token := authtest.SignIn(t, f.sessions, f.users, "revoke@example.com")
	_, keep := authtest.SignIn(t, f.sessions, f.users, "revoke@example.com")
	require.NoError(t, f.sessions.Revoke(t.Context(), token))
	require.NoError(t, f.sessions.Revoke(t.Context(), token), "revoking twice is fine")
	require.NoError(t, f.sessions.Revoke(t.Context(), "not-a-token"))

	_, err := f.sessions.Authenticate(t.Context(), token)
	require.Equal(t, apperr.Unauthenticated, apperr.CodeOf(err))
	requireProblem(t, f.do(t, http.MethodGet, "/me", "", withBearer(token)), http.StatusUnauthorized, "unauthenticated")
	// Even after two hours (when a live session would slide), it stays dead.
	f.clock.Add(2 * time.Hour)
	_, err = f.sessions.Authenticate(t.Context(), token)
	require.Equal(t, apperr.Unauthenticated, apperr.CodeOf(err))
	_, err = f.sessions.Authenticate(t.Context(), keep)
	require.NoError(t, err, "other sessions of the user are not revoked")
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	user, token := authtest.SignIn(t, f.sessions, f.users, "bearer@example.com")

	w := f.do(t, http.MethodGet, "/me", "", withBearer(token))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), user.ID.String())
	require.Equal(t, "private, no-store", w.Header().Get("Cache-Control"))

	// No Origin rule for bearer requests, whatever Origin says.
	require.Equal(t, http.StatusCreated, f.do(t, http.MethodPost, "/things", "", withBearer(token)).Code)
	require.Equal(t, http.StatusCreated, f.do(t, http.MethodPost, "/things", "", withBearer(token), withHeader("Origin", "https://evil.example")).Code)
	require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/me", "", withHeader("Authorization", "bearer "+token)).Code, "the scheme is case-insensitive")

	// A bearer token wins over a cookie, and a bad one is not rescued by it.
	good := &http.Cookie{Name: f.sessions.CookieName(), Value: token}
	w = f.do(t, http.MethodGet, "/me", "", withBearer("nonsense"), withCookie(good))
	requireProblem(t, w, http.StatusUnauthorized, "unauthenticated")
	require.Equal(t, `Bearer realm="redub"`, w.Header().Get("WWW-Authenticate"))
	require.Nil(t, cookie(t, w, f.sessions.CookieName()), "a bad bearer token does not clear the cookie")

	for _, h := range []string{"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", token} {
		requireProblem(t, f.do(t, http.MethodGet, "/me", "", withHeader("Authorization", h)), http.StatusUnauthorized, "unauthenticated")
	}
	requireProblem(t, f.do(t, http.MethodGet, "/me", ""), http.StatusUnauthorized, "unauthenticated")
}

func TestOriginRule(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	_, token := authtest.SignIn(t, f.sessions, f.users, "origin@example.com")
	session := &http.Cookie{Name: f.sessions.CookieName(), Value: token}

	for _, tc := range []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"no Origin or Referer", nil, http.StatusForbidden},
		{"foreign Origin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"null Origin", map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"other scheme", map[string]string{"Origin": "http://app.redub.test"}, http.StatusForbidden},
		{"other port", map[string]string{"Origin": "https://app.redub.test:8443"}, http.StatusForbidden},
		{"subdomain", map[string]string{"Origin": "https://evil.app.redub.test"}, http.StatusForbidden},
		{"suffix trick", map[string]string{"Origin": "https://app.redub.test.evil.example"}, http.StatusForbidden},
		{"foreign Origin, right Referer", map[string]string{"Origin": "https://evil.example", "Referer": httpsApp + "/jobs"}, http.StatusForbidden},
		{"foreign Referer", map[string]string{"Referer": "https://evil.example/app.redub.test"}, http.StatusForbidden},
		{"right Origin", map[string]string{"Origin": httpsApp}, http.StatusCreated},
		{"right Origin, default port", map[string]string{"Origin": "https://APP.redub.test:443"}, http.StatusCreated},
		{"right Referer", map[string]string{"Referer": httpsApp + "/jobs?x=1"}, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []option{withCookie(session)}
			for k, v := range tc.headers {
				opts = append(opts, withHeader(k, v))
			}
			w := f.do(t, http.MethodPost, "/things", "", opts...)
			if tc.status == http.StatusForbidden {
				requireProblem(t, w, http.StatusForbidden, "forbidden")
				return
			}
			require.Equal(t, tc.status, w.Code, w.Body.String())
		})
	}
	// Reads need no Origin.
	require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/me", "", withCookie(session)).Code)
}

func TestNewSessionsValidatesOptions(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	_, err := auth.NewSessions(nil, f.opts)
	require.Error(t, err)
	bad := f.opts
	bad.Secret = ""
	_, err = auth.NewSessions(f.db, bad)
	require.Error(t, err)
	bad = f.opts
	bad.AppURL = nil
	_, err = auth.NewSessions(f.db, bad)
	require.Error(t, err)
}

func cookieNamed(t *testing.T, w interface{ Result() *http.Response }, name string) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no cookie %s", name)
	return nil
}

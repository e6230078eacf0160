package e2e_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/auth/authtest"
)

// The Google sign-in runs end to end through the local stack: the real
// functions (under aws-lambda-rie) talk to an in-process OpenID provider
// that serves discovery, JWKS and the token endpoint.
func TestGoogleSignInThroughTheStack(t *testing.T) {
	t.Parallel()
	p := authtest.NewProvider(t)
	e := start(t, map[string]string{
		"GOOGLE_CLIENT_ID": p.ClientID, "GOOGLE_CLIENT_SECRET": p.ClientSecret, "GOOGLE_ISSUER_URL": p.URL,
		"AUTH_URL": "http://localhost:3000",
	})

	// begin starts a sign-in and returns the provider's answer (the callback URL) and the flow cookie.
	begin := func(t *testing.T, id authtest.Identity) (*url.URL, *http.Cookie) {
		t.Helper()
		r := e.do(t, call{method: "GET", path: "/auth/google?return_to=/library"})
		require.Equal(t, http.StatusFound, r.Status, string(r.Body))
		var flow *http.Cookie
		for _, c := range (&http.Response{Header: r.Header}).Cookies() {
			flow = c
		}
		require.NotNil(t, flow, "the state, nonce and PKCE verifier travel in a signed cookie")
		require.True(t, flow.HttpOnly)
		back, err := p.Authorize(r.Header.Get("Location"), id)
		require.NoError(t, err)
		return back, flow
	}
	callback := func(t *testing.T, back *url.URL, flow *http.Cookie) response {
		return e.do(t, call{method: "GET", path: "/auth/google/callback?" + back.RawQuery, cookie: flow})
	}

	t.Run("success, then the session works and the code cannot be replayed", func(t *testing.T) {
		back, flow := begin(t, authtest.Alice())
		r := callback(t, back, flow)
		require.Equal(t, http.StatusFound, r.Status, string(r.Body))
		require.Equal(t, "http://localhost:3000/library", r.Header.Get("Location"))
		var session *http.Cookie
		for _, c := range (&http.Response{Header: r.Header}).Cookies() {
			if c.Name == "redub_session" {
				session = c
			}
		}
		require.NotNil(t, session)
		require.True(t, session.HttpOnly)
		require.Equal(t, http.SameSiteLaxMode, session.SameSite)

		me := e.do(t, call{method: "GET", path: "/me", cookie: session})
		require.Equal(t, 200, me.Status)
		var u struct{ Email string }
		me.JSON(t, &u)
		require.Equal(t, "alice@example.com", u.Email)

		again := callback(t, back, flow)
		require.Contains(t, []int{400, 401}, again.Status, "a replayed code is refused: %s", again.Body)
	})

	t.Run("bad state", func(t *testing.T) {
		back, flow := begin(t, authtest.Alice())
		q := back.Query()
		q.Set("state", "forged")
		back.RawQuery = q.Encode()
		require.Equal(t, 400, callback(t, back, flow).Status)
	})

	t.Run("wrong audience", func(t *testing.T) {
		id := authtest.Alice()
		id.Claims = map[string]any{"aud": "someone-else.apps.example.com"}
		back, flow := begin(t, id)
		require.Equal(t, 401, callback(t, back, flow).Status)
	})

	t.Run("expired token", func(t *testing.T) {
		id := authtest.Alice()
		id.Claims = map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()}
		back, flow := begin(t, id)
		require.Equal(t, 401, callback(t, back, flow).Status)
	})
}

package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/auth/authtest"
)

func TestGoogleSignIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		app, sessionCookie, flowCookie string
		secure                         bool
	}{
		{app: httpsApp, sessionCookie: "__Host-redub_session", flowCookie: "__Secure-redub_oauth", secure: true},
		{app: httpApp, sessionCookie: "redub_session", flowCookie: "redub_oauth"},
	} {
		t.Run(tc.app, func(t *testing.T) {
			t.Parallel()
			f := setup(t, tc.app)

			// Start: a redirect to the provider with PKCE, nonce and state.
			w := f.do(t, http.MethodGet, "/auth/google?return_to=%2Fjobs%3Ftab%3D2", "")
			require.Equal(t, http.StatusFound, w.Code, w.Body.String())
			loc, err := url.Parse(w.Header().Get("Location"))
			require.NoError(t, err)
			require.Equal(t, f.provider.URL+"/authorize", loc.Scheme+"://"+loc.Host+loc.Path)
			q := loc.Query()
			require.Equal(t, "code", q.Get("response_type"))
			require.Equal(t, f.provider.ClientID, q.Get("client_id"))
			require.Equal(t, tc.app+"/auth/google/callback", q.Get("redirect_uri"))
			require.Equal(t, f.google.RedirectURL(), q.Get("redirect_uri"))
			require.Equal(t, "openid email profile", q.Get("scope"))
			require.Equal(t, "S256", q.Get("code_challenge_method"))
			require.Len(t, q.Get("code_challenge"), 43)
			require.Equal(t, "select_account", q.Get("prompt"))
			require.GreaterOrEqual(t, len(q.Get("state")), 43)
			require.GreaterOrEqual(t, len(q.Get("nonce")), 43)
			require.NotEqual(t, q.Get("state"), q.Get("nonce"))

			flow := cookie(t, w, tc.flowCookie)
			require.NotNil(t, flow)
			require.True(t, flow.HttpOnly)
			require.Equal(t, tc.secure, flow.Secure)
			require.Equal(t, http.SameSiteLaxMode, flow.SameSite)
			require.Equal(t, "/auth/google", flow.Path)
			require.Equal(t, 600, flow.MaxAge)
			require.NotContains(t, flow.Value, q.Get("code_challenge"))

			// The provider signs Alice in; the callback opens a session.
			back, err := f.provider.Authorize(loc.String(), authtest.Alice())
			require.NoError(t, err)
			w = f.callback(t, back, withCookie(flow))
			require.Equal(t, http.StatusFound, w.Code, w.Body.String())
			require.Equal(t, tc.app+"/jobs?tab=2", w.Header().Get("Location"))
			require.Equal(t, "no-store", w.Header().Get("Cache-Control"))

			session := cookie(t, w, tc.sessionCookie)
			require.NotNil(t, session)
			require.True(t, session.HttpOnly)
			require.Equal(t, tc.secure, session.Secure)
			require.Equal(t, http.SameSiteLaxMode, session.SameSite)
			require.Equal(t, "/", session.Path)
			require.Empty(t, session.Domain)
			require.Equal(t, int((30 * 24 * time.Hour).Seconds()), session.MaxAge)
			cleared := cookie(t, w, tc.flowCookie)
			require.NotNil(t, cleared, "the sign-in cookie must be cleared")
			require.Negative(t, cleared.MaxAge)
			require.Equal(t, "/auth/google", cleared.Path)

			var sub, email, name, picture string
			require.NoError(t, f.db.QueryRow(t.Context(),
				`SELECT google_sub, email, name, picture_url FROM users`).Scan(&sub, &email, &name, &picture))
			alice := authtest.Alice()
			require.Equal(t, []string{alice.Subject, alice.Email, alice.Name, alice.Picture}, []string{sub, email, name, picture})

			// /me answers with the user.
			w = f.do(t, http.MethodGet, "/me", "", withCookie(session))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			var me map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &me))
			require.ElementsMatch(t, []string{"id", "email", "name", "picture_url", "created_at"}, keys(me))
			require.Equal(t, alice.Email, me["email"])
			require.Equal(t, alice.Name, me["name"])
			require.Equal(t, alice.Picture, me["picture_url"])
			id := me["id"]

			// Signing in again updates the same user.
			renamed := alice
			renamed.Name, renamed.Email = "Alice Renamed", "alice.renamed@example.com"
			second := f.signIn(t, renamed)
			w = f.do(t, http.MethodGet, "/me", "", withCookie(second))
			require.Equal(t, http.StatusOK, w.Code)
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &me))
			require.Equal(t, id, me["id"])
			require.Equal(t, "Alice Renamed", me["name"])
			require.Equal(t, "alice.renamed@example.com", me["email"])
			require.Equal(t, 1, f.count(t, `SELECT count(*) FROM users`))
			require.Equal(t, 2, f.count(t, `SELECT count(*) FROM sessions`))

			// Logout revokes the session and clears the cookie.
			w = f.do(t, http.MethodPost, "/auth/logout", "", withCookie(session), withHeader("Origin", f.origin()))
			require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
			gone := cookie(t, w, tc.sessionCookie)
			require.NotNil(t, gone)
			require.Negative(t, gone.MaxAge)
			require.Equal(t, 1, f.count(t, `SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL`))
			requireProblem(t, f.do(t, http.MethodGet, "/me", "", withCookie(session)), http.StatusUnauthorized, "unauthenticated")
			// The other session lives on.
			require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/me", "", withCookie(second)).Code)
		})
	}
}

func keys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestGoogleCallbackDefaultsToRoot(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	back, flow := f.authorize(t, authtest.Alice(), "")
	w := f.callback(t, back, withCookie(flow))
	require.Equal(t, http.StatusFound, w.Code, w.Body.String())
	require.Equal(t, httpsApp+"/", w.Header().Get("Location"))
}

func TestGoogleCallbackState(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)

	t.Run("bad state", func(t *testing.T) {
		back, flow := f.authorize(t, authtest.Alice(), "")
		q := back.Query()
		q.Set("state", "forged-state")
		back.RawQuery = q.Encode()
		w := f.callback(t, back, withCookie(flow))
		requireProblem(t, w, http.StatusBadRequest, "invalid")
		require.Nil(t, cookie(t, w, f.sessions.CookieName()))
		require.Negative(t, cookie(t, w, f.flowCookie()).MaxAge, "a failed callback clears the sign-in cookie too")
	})
	t.Run("no state", func(t *testing.T) {
		back, flow := f.authorize(t, authtest.Alice(), "")
		q := back.Query()
		q.Del("state")
		back.RawQuery = q.Encode()
		requireProblem(t, f.callback(t, back, withCookie(flow)), http.StatusBadRequest, "invalid")
	})
	t.Run("missing cookie", func(t *testing.T) {
		back, _ := f.authorize(t, authtest.Alice(), "")
		requireProblem(t, f.callback(t, back), http.StatusBadRequest, "invalid")
	})
	t.Run("forged cookie", func(t *testing.T) {
		back, flow := f.authorize(t, authtest.Alice(), "")
		payload, sig, ok := strings.Cut(flow.Value, ".")
		require.True(t, ok)
		for _, v := range []string{payload + "." + strings.Repeat("A", len(sig)), payload, "", "x.y", sig + "." + payload} {
			forged := *flow
			forged.Value = v
			requireProblem(t, f.callback(t, back, withCookie(&forged)), http.StatusBadRequest, "invalid")
		}
	})
	t.Run("cookie signed with another secret", func(t *testing.T) {
		opts := f.opts
		opts.Secret = "another-secret-0123456789abcdefghijklmnop"
		other, err := auth.NewGoogle(opts, f.sessions, f.users)
		require.NoError(t, err)
		w := httptest.NewRecorder()
		other.Start().ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/auth/google", nil))
		require.Equal(t, http.StatusFound, w.Code, w.Body.String())
		back, err := f.provider.Authorize(w.Header().Get("Location"), authtest.Alice())
		require.NoError(t, err)
		// The state matches the cookie's, but the signature is not ours.
		requireProblem(t, f.callback(t, back, withCookie(cookie(t, w, f.flowCookie()))), http.StatusBadRequest, "invalid")
	})
	t.Run("no code", func(t *testing.T) {
		back, flow := f.authorize(t, authtest.Alice(), "")
		q := back.Query()
		q.Del("code")
		back.RawQuery = q.Encode()
		requireProblem(t, f.callback(t, back, withCookie(flow)), http.StatusBadRequest, "invalid")
	})
	require.Equal(t, 0, f.count(t, `SELECT count(*) FROM sessions`))
	require.Equal(t, 0, f.provider.Requests("/token"), "nothing may be exchanged without a matching state")
}

func TestGoogleCallbackExpiredFlow(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	back, flow := f.authorize(t, authtest.Alice(), "")
	f.clock.Add(10*time.Minute + time.Second)
	p := requireProblem(t, f.callback(t, back, withCookie(flow)), http.StatusBadRequest, "invalid")
	require.Contains(t, p.Detail, "10 minutes")
}

func TestGoogleCallbackReplayedCode(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	back, flow := f.authorize(t, authtest.Alice(), "")
	require.Equal(t, http.StatusFound, f.callback(t, back, withCookie(flow)).Code)
	// An attacker who captured the callback URL and the cookie replays both.
	w := f.callback(t, back, withCookie(flow))
	p := requireProblem(t, w, http.StatusUnauthorized, "unauthenticated")
	require.NotContains(t, p.Detail, "authtest", "no provider error text for the caller")
	require.Nil(t, cookie(t, w, f.sessions.CookieName()))
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM sessions`))
}

func TestGoogleCallbackBadIDToken(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	for name, claims := range map[string]map[string]any{
		"wrong audience":               {"aud": "someone-else.apps.example.com", "azp": "someone-else.apps.example.com"},
		"extra audience, azp not ours": {"aud": []string{f.provider.ClientID, "other"}, "azp": "other"},
		"expired":                      {"exp": f.clock.Now().Add(-time.Minute).Unix()},
		"bad nonce":                    {"nonce": "not-the-nonce-of-this-sign-in"},
		"no nonce":                     {"nonce": nil},
		"other issuer":                 {"iss": "https://accounts.example.com"},
		"no subject":                   {"sub": nil},
	} {
		t.Run(name, func(t *testing.T) {
			id := authtest.Alice()
			id.Claims = claims
			back, flow := f.authorize(t, id, "")
			w := f.callback(t, back, withCookie(flow))
			requireProblem(t, w, http.StatusUnauthorized, "unauthenticated")
			require.Nil(t, cookie(t, w, f.sessions.CookieName()))
		})
	}
	require.Equal(t, 0, f.count(t, `SELECT count(*) FROM users`))
	require.Equal(t, 0, f.count(t, `SELECT count(*) FROM sessions`))
}

func TestGoogleCallbackUnverifiedEmail(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	for name, mutate := range map[string]func(*authtest.Identity){
		"unverified":     func(id *authtest.Identity) { id.EmailVerified = false },
		"no email":       func(id *authtest.Identity) { id.Claims = map[string]any{"email": nil} },
		"string false":   func(id *authtest.Identity) { id.Claims = map[string]any{"email_verified": "false"} },
		"claim missing":  func(id *authtest.Identity) { id.Claims = map[string]any{"email_verified": nil} },
		"claim mistyped": func(id *authtest.Identity) { id.Claims = map[string]any{"email_verified": 1} },
	} {
		t.Run(name, func(t *testing.T) {
			id := authtest.Alice()
			mutate(&id)
			back, flow := f.authorize(t, id, "")
			w := f.callback(t, back, withCookie(flow))
			require.Contains(t, []int{http.StatusForbidden, http.StatusUnauthorized}, w.Code, w.Body.String())
			require.Nil(t, cookie(t, w, f.sessions.CookieName()))
		})
	}
	require.Equal(t, 0, f.count(t, `SELECT count(*) FROM users`))

	// email_verified as the string "true" (some providers) is accepted.
	id := authtest.Alice()
	id.Claims = map[string]any{"email_verified": "true"}
	f.signIn(t, id)
}

func TestGoogleCallbackUnverifiedEmailIsForbidden(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	id := authtest.Alice()
	id.EmailVerified = false
	back, flow := f.authorize(t, id, "")
	p := requireProblem(t, f.callback(t, back, withCookie(flow)), http.StatusForbidden, "forbidden")
	require.Contains(t, p.Detail, "not verified")
}

func TestGoogleCallbackEmailOfAnotherAccount(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	f.signIn(t, authtest.Alice())
	mallory := authtest.Alice()
	mallory.Subject = "999"
	back, flow := f.authorize(t, mallory, "")
	requireProblem(t, f.callback(t, back, withCookie(flow)), http.StatusConflict, "conflict")
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM users`))
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM sessions`))
}

func TestGoogleCallbackProviderError(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	for _, tc := range []struct {
		query, code, detail string
		status              int
	}{
		{"?error=access_denied&state=x", "unauthenticated", "access_denied", http.StatusUnauthorized},
		{"?error=interaction_required", "unauthenticated", "interaction_required", http.StatusUnauthorized},
		{"?error=invalid_scope&error_description=Some+provider+text", "invalid", "invalid_scope", http.StatusBadRequest},
		{"?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "invalid", "unknown", http.StatusBadRequest},
	} {
		t.Run(tc.query, func(t *testing.T) {
			_, flow := f.start(t, "")
			w := f.do(t, http.MethodGet, "/auth/google/callback"+tc.query, "", withCookie(flow))
			p := requireProblem(t, w, tc.status, tc.code)
			require.Contains(t, p.Detail, tc.detail)
			require.NotContains(t, p.Detail, "provider text")
			require.NotContains(t, p.Detail, "<script>")
		})
	}
}

func TestGoogleStartReturnTo(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	for _, bad := range []string{
		"//evil.example", "/\\evil.example", "https://evil.example/", "evil.example", "javascript:alert(1)",
		"/\t/evil.example", "/\n/evil.example", "\\\\evil.example", "/a\\b", "", " /jobs", "http:/evil.example",
		"/" + strings.Repeat("a", 1100),
	} {
		t.Run(bad, func(t *testing.T) {
			w := f.do(t, http.MethodGet, "/auth/google?return_to="+url.QueryEscape(bad), "")
			p := requireProblem(t, w, http.StatusBadRequest, "invalid")
			require.Equal(t, "return_to", p.Field)
			require.Empty(t, w.Header().Get("Location"))
			require.Nil(t, cookie(t, w, f.flowCookie()))
		})
	}
	t.Run("given twice", func(t *testing.T) {
		requireProblem(t, f.do(t, http.MethodGet, "/auth/google?return_to=/a&return_to=//evil.example", ""), http.StatusBadRequest, "invalid")
	})
	for _, good := range []string{"/", "/jobs", "/jobs/123?tab=steps#log", "/a//b", "/%2F%2Fstill-a-path"} {
		t.Run(good, func(t *testing.T) {
			back, flow := f.authorize(t, authtest.Alice(), "?return_to="+url.QueryEscape(good))
			w := f.callback(t, back, withCookie(flow))
			require.Equal(t, http.StatusFound, w.Code, w.Body.String())
			require.Equal(t, httpsApp+good, w.Header().Get("Location"))
			target, err := url.Parse(w.Header().Get("Location"))
			require.NoError(t, err)
			require.Equal(t, "app.redub.test", target.Host)
		})
	}
}

func TestGoogleDiscoveryIsLazyAndRetried(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	const wellKnown = "/.well-known/openid-configuration"
	require.Equal(t, 0, f.provider.Requests(wellKnown), "NewGoogle must not call the provider")

	f.provider.FailDiscovery(1)
	w := f.do(t, http.MethodGet, "/auth/google", "")
	p := requireProblem(t, w, http.StatusServiceUnavailable, "unavailable")
	require.NotContains(t, p.Detail, "discovery is down", "no provider body for the caller")
	require.Nil(t, cookie(t, w, f.flowCookie()))

	f.start(t, "")
	f.start(t, "")
	require.Equal(t, 2, f.provider.Requests(wellKnown), "one failure, one success, then the cache")
	f.signIn(t, authtest.Alice())
	require.Equal(t, 2, f.provider.Requests(wellKnown))
}

func TestGoogleNotConfigured(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	opts := f.opts
	opts.ClientID, opts.ClientSecret = "", ""
	g, err := auth.NewGoogle(opts, f.sessions, f.users)
	require.NoError(t, err)
	for _, h := range []http.Handler{g.Start(), g.Callback()} {
		mux := http.NewServeMux()
		mux.Handle("/", h)
		f.mux = mux
		p := requireProblem(t, f.do(t, http.MethodGet, "/auth/google", ""), http.StatusServiceUnavailable, "unavailable")
		require.Contains(t, p.Detail, "GOOGLE_CLIENT_ID")
	}
	require.Equal(t, 0, f.provider.Requests("/.well-known/openid-configuration"))
}

func TestGoogleProviderEndToEndOverHTTP(t *testing.T) {
	t.Parallel()
	// The provider's own /authorize endpoint, followed like a browser would.
	f := setup(t, httpsApp)
	loc, flow := f.start(t, "?return_to=/done")
	res, err := noRedirects(f.provider).Get(loc)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	require.Equal(t, http.StatusFound, res.StatusCode)
	back, err := url.Parse(res.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "app.redub.test", back.Host)
	w := f.callback(t, back, withCookie(flow))
	require.Equal(t, http.StatusFound, w.Code, w.Body.String())
	require.Equal(t, httpsApp+"/done", w.Header().Get("Location"))
}

func noRedirects(p *authtest.Provider) *http.Client {
	var opts auth.Options
	p.Configure(&opts)
	c := *opts.HTTPClient
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func TestNewGoogleValidatesOptions(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	_, err := auth.NewGoogle(f.opts, nil, f.users)
	require.Error(t, err)
	bad := f.opts
	bad.Secret = ""
	_, err = auth.NewGoogle(bad, f.sessions, f.users)
	require.Error(t, err)
	bad = f.opts
	bad.AppURL = &url.URL{Path: "/relative"}
	_, err = auth.NewGoogle(bad, f.sessions, f.users)
	require.Error(t, err)
}

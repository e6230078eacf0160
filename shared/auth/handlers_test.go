package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/auth/authtest"
	"github.com/redub/redub/shared/config"
)

func TestLogout(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)

	t.Run("no session is fine", func(t *testing.T) {
		w := f.do(t, http.MethodPost, "/auth/logout", "")
		require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
		require.Negative(t, cookieNamed(t, w, f.sessions.CookieName()).MaxAge)
		w = f.do(t, http.MethodPost, "/auth/logout", "", withBearer("unknown-token"))
		require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	})
	t.Run("bearer", func(t *testing.T) {
		_, token := authtest.SignIn(t, f.sessions, f.users, "bye@example.com")
		require.Equal(t, http.StatusNoContent, f.do(t, http.MethodPost, "/auth/logout", "", withBearer(token)).Code)
		requireProblem(t, f.do(t, http.MethodGet, "/me", "", withBearer(token)), http.StatusUnauthorized, "unauthenticated")
		require.Equal(t, http.StatusNoContent, f.do(t, http.MethodPost, "/auth/logout", "", withBearer(token)).Code, "idempotent")
	})
	t.Run("cookie from another site", func(t *testing.T) {
		_, token := authtest.SignIn(t, f.sessions, f.users, "csrf@example.com")
		session := &http.Cookie{Name: f.sessions.CookieName(), Value: token}
		w := f.do(t, http.MethodPost, "/auth/logout", "", withCookie(session), withHeader("Origin", "https://evil.example"))
		requireProblem(t, w, http.StatusForbidden, "forbidden")
		require.Nil(t, cookie(t, w, f.sessions.CookieName()))
		requireProblem(t, f.do(t, http.MethodPost, "/auth/logout", "", withCookie(session)), http.StatusForbidden, "forbidden")
		require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/me", "", withCookie(session)).Code, "the session survives")
	})
	t.Run("malformed Authorization", func(t *testing.T) {
		requireProblem(t, f.do(t, http.MethodPost, "/auth/logout", "", withHeader("Authorization", "Basic eDp5")), http.StatusUnauthorized, "unauthenticated")
	})
}

func TestMeWithoutRequire(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	auth.MeHandler().ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/me", nil))
	requireProblem(t, w, http.StatusUnauthorized, "unauthenticated")

	// WithUser is how other packages' tests fake a signed-in caller.
	u := auth.User{Email: "ctx@example.com", CreatedAt: time.Unix(0, 0).UTC()}
	w = httptest.NewRecorder()
	r := httptest.NewRequestWithContext(auth.WithUser(t.Context(), u), http.MethodGet, "/me", nil)
	auth.MeHandler().ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code)
	require.JSONEq(t, `{"id":"00000000-0000-0000-0000-000000000000","email":"ctx@example.com","name":"","picture_url":"","created_at":"1970-01-01T00:00:00Z"}`, w.Body.String())
}

func TestDevLogin(t *testing.T) {
	t.Parallel()
	f := setup(t, httpApp)

	w := f.do(t, http.MethodPost, "/auth/dev-login", `{"email":"Dev@Example.com","name":"Dev"}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var res struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
		User      auth.User `json:"user"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &res))
	require.Len(t, res.Token, 43)
	require.Equal(t, "Dev@Example.com", res.User.Email)
	require.Equal(t, "Dev", res.User.Name)
	require.WithinDuration(t, f.clock.Now().Add(auth.SessionTTL), res.ExpiresAt, time.Second)
	session := cookieNamed(t, w, "redub_session")
	require.Equal(t, res.Token, session.Value)
	require.False(t, session.Secure)
	require.True(t, session.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, session.SameSite)

	w = f.do(t, http.MethodGet, "/me", "", withBearer(res.Token))
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), res.User.ID.String())
	require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/me", "", withCookie(session)).Code)
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM users WHERE google_sub IS NULL`))

	// The same email (any case) is the same user; an empty name keeps the old one.
	w = f.do(t, http.MethodPost, "/auth/dev-login", `{"email":"dev@example.com"}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var again struct {
		User auth.User `json:"user"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &again))
	require.Equal(t, res.User.ID, again.User.ID)
	require.Equal(t, "Dev", again.User.Name)
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM users`))
	require.Equal(t, 2, f.count(t, `SELECT count(*) FROM sessions`))

	for _, body := range []string{
		`{}`, `{"email":""}`, `{"email":"   "}`, `{"email":"not-an-email"}`, `{"email":"Dev <dev@example.com>"}`,
		`{"email":"a@b.c","name":"` + strings.Repeat("n", 201) + `"}`, `{"email":"` + strings.Repeat("a", 250) + `@example.com"}`,
		`{"email":"a@b.c","admin":true}`, `not json`,
	} {
		t.Run(body, func(t *testing.T) {
			requireProblem(t, f.do(t, http.MethodPost, "/auth/dev-login", body), http.StatusBadRequest, "invalid")
		})
	}
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM users`))
}

func TestDevLoginRefusesToExistOutsideDevelopment(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	for _, stage := range []config.Stage{config.Staging, config.Production, "", "Development", "dev"} {
		t.Run(string(stage), func(t *testing.T) {
			opts := f.opts
			opts.Stage = stage
			h, err := auth.NewDevLogin(opts, f.sessions, f.users)
			require.NoError(t, err)
			w := httptest.NewRecorder()
			r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/auth/dev-login", strings.NewReader(`{"email":"dev@example.com"}`))
			r.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(w, r)
			requireProblem(t, w, http.StatusNotFound, "not_found")
			require.Empty(t, w.Result().Cookies())

			// Even without any dependencies, nothing can go wrong.
			h, err = auth.NewDevLogin(opts, nil, nil)
			require.NoError(t, err)
			require.NotNil(t, h)
		})
	}
	require.Equal(t, 0, f.count(t, `SELECT count(*) FROM users`))

	_, err := auth.NewDevLogin(f.opts, nil, f.users)
	require.Error(t, err, "development without Sessions")
}

func TestSignOutEverywhere(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	u, laptop := authtest.SignIn(t, f.sessions, f.users, "everywhere@example.com")
	phone, _, err := f.sessions.Open(t.Context(), u.ID, "203.0.113.7", "phone")
	require.NoError(t, err)
	_, other := authtest.SignIn(t, f.sessions, f.users, "someone-else@example.com")

	requireProblem(t, f.do(t, http.MethodDelete, "/sessions", ""), http.StatusUnauthorized, "unauthenticated")
	session := &http.Cookie{Name: f.sessions.CookieName(), Value: laptop}
	requireProblem(t, f.do(t, http.MethodDelete, "/sessions", "", withCookie(session), withHeader("Origin", "https://evil.example")),
		http.StatusForbidden, "forbidden")
	require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/me", "", withBearer(phone)).Code, "a cross-site request revokes nothing")

	w := f.do(t, http.MethodDelete, "/sessions", "", withBearer(laptop))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	require.Negative(t, cookieNamed(t, w, f.sessions.CookieName()).MaxAge)
	for _, token := range []string{laptop, phone} {
		requireProblem(t, f.do(t, http.MethodGet, "/me", "", withBearer(token)), http.StatusUnauthorized, "unauthenticated")
	}
	require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/me", "", withBearer(other)).Code, "another user's session is untouched")
}

// A session used every day still ends 90 days (DefaultSessionMaxAge) after
// it was opened.
func TestSessionAbsoluteLifetime(t *testing.T) {
	t.Parallel()
	f := setup(t, httpsApp)
	_, token := authtest.SignIn(t, f.sessions, f.users, "daily@example.com")
	for day := 1; day < 90; day++ {
		f.clock.Add(24 * time.Hour)
		require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/me", "", withBearer(token)).Code, "day %d", day)
	}
	f.clock.Add(24*time.Hour + time.Minute)
	requireProblem(t, f.do(t, http.MethodGet, "/me", "", withBearer(token)), http.StatusUnauthorized, "unauthenticated")

	// A shorter setting also caps the first expiry.
	f.opts.MaxAge = 2 * time.Hour
	short, err := auth.NewSessions(f.db, f.opts)
	require.NoError(t, err)
	u, err := f.users.UpsertLocal(t.Context(), "short@example.com", "Short")
	require.NoError(t, err)
	tok, expires, err := short.Open(t.Context(), u.ID, "", "")
	require.NoError(t, err)
	require.Equal(t, f.clock.Now().Add(2*time.Hour).Unix(), expires.Unix())
	f.clock.Add(90 * time.Minute)
	_, err = short.Authenticate(t.Context(), tok)
	require.NoError(t, err)
	f.clock.Add(31 * time.Minute)
	_, err = short.Authenticate(t.Context(), tok)
	require.Error(t, err, "past MaxAge even though used 31 minutes ago")
}

// dev-login is email alone: it must never open an account that Google
// signs in, or anyone who reaches a preview could be that person.
func TestDevLoginRefusesGoogleAccounts(t *testing.T) {
	t.Parallel()
	f := setup(t, httpApp)
	g, err := f.users.UpsertGoogle(t.Context(), auth.GoogleProfile{Subject: "google-sub-1", Email: "real.person@example.com", Name: "Real"})
	require.NoError(t, err)

	for _, email := range []string{"real.person@example.com", "Real.Person@Example.com"} {
		w := f.do(t, http.MethodPost, "/auth/dev-login", `{"email":"`+email+`","name":"Impostor"}`)
		requireProblem(t, w, http.StatusForbidden, "forbidden")
		require.Nil(t, cookie(t, w, "redub_session"))
	}
	require.Equal(t, 0, f.count(t, `SELECT count(*) FROM sessions`), "no session was opened for the Google user")
	require.Equal(t, 1, f.count(t, `SELECT count(*) FROM users WHERE name = 'Real' AND id = '`+g.ID.String()+`'`), "the user is unchanged")

	require.Equal(t, http.StatusOK, f.do(t, http.MethodPost, "/auth/dev-login", `{"email":"local@example.com"}`).Code,
		"an address without a Google identity still signs in")
}

// A preview's dev-login needs the access code its workflow run showed.
func TestDevLoginAccessCode(t *testing.T) {
	t.Parallel()
	f := setup(t, httpApp)
	opts := f.opts
	opts.DevLoginCode = "0123456789abcdef0123"
	h, err := auth.NewDevLogin(opts, f.sessions, f.users)
	require.NoError(t, err)
	post := func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/auth/dev-login", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, body := range []string{
		`{"email":"dev@example.com"}`,
		`{"email":"dev@example.com","access_code":""}`,
		`{"email":"dev@example.com","access_code":"0123456789abcdef012"}`,
		`{"email":"dev@example.com","access_code":"wrong-code-wrong-code"}`,
	} {
		requireProblem(t, post(body), http.StatusForbidden, "forbidden")
	}
	require.Equal(t, 0, f.count(t, `SELECT count(*) FROM users`), "nothing was created without the code")
	w := post(`{"email":"dev@example.com","access_code":"0123456789abcdef0123"}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
}

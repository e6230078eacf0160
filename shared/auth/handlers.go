package auth

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/httpapi"
)

// LogoutHandler is POST /auth/logout. It revokes the caller's session (bearer
// token or cookie), clears the cookie and answers 204. It is idempotent: a
// caller with no session, or a dead one, also gets 204. A cookie-authenticated
// call from another origin is a 403 problem and revokes nothing; a malformed
// Authorization header is a 401 problem.
func LogoutHandler(s *Sessions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, err := s.credential(r)
		if err == nil && cred.cookie {
			err = s.checkOrigin(r)
		}
		if err == nil && cred.token != "" {
			err = s.Revoke(r.Context(), cred.token)
		}
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		s.clearCookie(w)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

// SignOutEverywhereHandler is DELETE /sessions, behind Sessions.Require: it
// revokes every session of the signed-in user (this one and those on every
// other device), clears the cookie and answers 204. Without a user in the
// context it answers a 401 problem.
func SignOutEverywhereHandler(s *Sessions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := UserFrom(r.Context())
		if !ok {
			httpapi.Error(w, r, errSignedOut)
			return
		}
		if _, err := s.RevokeAll(r.Context(), u.ID); err != nil {
			httpapi.Error(w, r, err)
			return
		}
		s.clearCookie(w)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

// MeHandler is GET /me, behind Sessions.Require: the signed-in user as
// {id, email, name, picture_url, created_at}. Without a user in the context
// it answers a 401 problem.
func MeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := UserFrom(r.Context())
		if !ok {
			httpapi.Error(w, r, errSignedOut)
			return
		}
		w.Header().Set("Cache-Control", "private, no-store")
		httpapi.JSON(w, http.StatusOK, u)
	})
}

// DevLoginRequest is the body of POST /auth/dev-login.
type DevLoginRequest struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	// AccessCode is required when Options.DevLoginCode is set (a preview
	// stack): the code the preview's workflow run shows.
	AccessCode string `json:"access_code,omitempty"`
}

// DevLoginResponse is the answer of POST /auth/dev-login.
type DevLoginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      User      `json:"user"`
}

// NewDevLogin returns POST /auth/dev-login, which signs anybody in by email
// alone. Only when opts.Stage is config.Development does it do so; in any
// other stage (or none) it returns a handler that answers every request with
// a 404 problem and touches nothing, so a deployed stage cannot expose it.
// The error is for a development handler without Sessions or Users.
//
// The body is {"email", "name", "access_code"}; email is required, and so
// is access_code when opts.DevLoginCode is set (a preview stack; a wrong or
// missing code is a 403 problem). The user with that email
// (case-insensitive) is reused unless it has a Google identity (a 403
// problem: only Google signs that account in), otherwise a user without a
// Google subject is created. The answer is 200 with a DevLoginResponse and
// the session cookie.
func NewDevLogin(opts Options, s *Sessions, u *Users) (http.Handler, error) {
	if opts.Stage != config.Development {
		return httpapi.NotFoundHandler(), nil
	}
	if s == nil || u == nil {
		return nil, errors.New("auth: NewDevLogin needs Sessions and Users")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req DevLoginRequest
		if err := httpapi.Decode(w, r, &req, 4096); err != nil {
			httpapi.Error(w, r, err)
			return
		}
		email, name, err := checkDevLogin(req)
		if err == nil && opts.DevLoginCode != "" &&
			subtle.ConstantTimeCompare([]byte(strings.TrimSpace(req.AccessCode)), []byte(opts.DevLoginCode)) != 1 {
			err = apperr.New(apperr.Forbidden, "this preview's sign-in needs its access code (access_code), shown in the preview's workflow run")
		}
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		user, err := u.DevLoginUser(r.Context(), email, name)
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		token, expires, err := s.Open(r.Context(), user.ID, clientIP(r), r.UserAgent())
		if err != nil {
			httpapi.Error(w, r, err)
			return
		}
		s.setCookie(w, token, expires)
		w.Header().Set("Cache-Control", "no-store")
		httpapi.JSON(w, http.StatusOK, DevLoginResponse{Token: token, ExpiresAt: expires, User: user})
	}), nil
}

func checkDevLogin(req DevLoginRequest) (email, name string, err error) {
	email = strings.TrimSpace(req.Email)
	name = strings.TrimSpace(req.Name)
	if email == "" {
		return "", "", apperr.InvalidField("email", "email is required")
	}
	a, perr := mail.ParseAddress(email)
	if perr != nil || a.Address != email || a.Name != "" || len(email) > 254 {
		return "", "", apperr.InvalidField("email", "email must be a plain address such as dev@example.com")
	}
	if utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) {
		return "", "", apperr.InvalidField("name", "name must be at most 200 characters")
	}
	return email, name, nil
}

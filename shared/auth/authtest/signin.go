package authtest

import (
	"strings"
	"testing"

	"github.com/redub/redub/shared/auth"
)

// SignIn creates (or reuses) a local user with email and opens a session for
// it, without any provider. It returns the user and the session token, to be
// sent as "Authorization: Bearer <token>" or as the session cookie
// (Sessions.CookieName).
func SignIn(t testing.TB, s *auth.Sessions, u *auth.Users, email string) (auth.User, string) {
	t.Helper()
	name, _, _ := strings.Cut(email, "@")
	user, err := u.UpsertLocal(t.Context(), email, name)
	if err != nil {
		t.Fatalf("authtest: sign in %s: %v", email, err)
	}
	token, _, err := s.Open(t.Context(), user.ID, "192.0.2.1", "authtest")
	if err != nil {
		t.Fatalf("authtest: open session for %s: %v", email, err)
	}
	return user, token
}

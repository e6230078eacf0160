package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/auth"
	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/postgres"
)

// What the functions of the auth routes build once per cold start, from
// lambdarun's config and pool. None of it does I/O: the pool connects, and
// Google is discovered, on the first request.
func Example_wiring() {
	setup := func(_ context.Context, cfg *config.Config, db *postgres.DB) (map[string]http.Handler, error) {
		opts := auth.OptionsFrom(cfg)
		sessions, err := auth.NewSessions(db, opts)
		if err != nil {
			return nil, err
		}
		users := auth.NewUsers(db)
		google, err := auth.NewGoogle(opts, sessions, users)
		if err != nil {
			return nil, err
		}
		dev, err := auth.NewDevLogin(opts, sessions, users) // a 404 handler unless STAGE=development
		if err != nil {
			return nil, err
		}
		return map[string]http.Handler{ // one per function
			"GET /auth/google":          google.Start(),
			"GET /auth/google/callback": google.Callback(),
			"POST /auth/logout":         auth.LogoutHandler(sessions),
			"GET /me":                   sessions.Require(auth.MeHandler()),
			"POST /auth/dev-login":      dev,
		}, nil
	}
	_ = setup
}

// Tests of handlers behind Require fake the signed-in user with WithUser.
func ExampleWithUser() {
	u := auth.User{
		ID:        uuid.MustParse("0194f3c2-7a1e-4b8e-9c1d-2f3a4b5c6d7e"),
		Email:     "alice@example.com",
		Name:      "Alice",
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	r := httptest.NewRequestWithContext(auth.WithUser(context.Background(), u), http.MethodGet, "/me", nil)
	w := httptest.NewRecorder()
	auth.MeHandler().ServeHTTP(w, r)
	fmt.Print(w.Code, " ", w.Body.String())
	// Output: 200 {"id":"0194f3c2-7a1e-4b8e-9c1d-2f3a4b5c6d7e","email":"alice@example.com","name":"Alice","picture_url":"","created_at":"2025-01-02T03:04:05Z"}
}

package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/postgres"
)

// User is a person who can sign in, as GET /me shows them.
type User struct {
	ID         uuid.UUID `json:"id"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	PictureURL string    `json:"picture_url"`
	CreatedAt  time.Time `json:"created_at"`
}

type userKey struct{}

// WithUser returns a copy of ctx that carries u as the signed-in user. Require
// calls it; tests of other packages call it to fake a signed-in caller.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the signed-in user that Require put in ctx.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// Users stores users.
type Users struct{ db *postgres.DB }

// NewUsers returns a store over db.
func NewUsers(db *postgres.DB) *Users { return &Users{db: db} }

// GoogleProfile is what a verified ID token says about its subject.
type GoogleProfile struct {
	Subject    string // the stable Google account id ("sub")
	Email      string // verified
	Name       string
	PictureURL string
}

const userColumns = `id, email, name, picture_url, created_at`

// UpsertGoogle creates the user with p's Google subject, or updates their
// email, name and picture. It fails with apperr.Conflict when another user
// already has the email address.
func (s *Users) UpsertGoogle(ctx context.Context, p GoogleProfile) (User, error) {
	return upsertGoogle(ctx, s.db, p)
}

// UpsertGoogleTx is UpsertGoogle inside tx.
func (s *Users) UpsertGoogleTx(ctx context.Context, tx pgx.Tx, p GoogleProfile) (User, error) {
	return upsertGoogle(ctx, tx, p)
}

func upsertGoogle(ctx context.Context, q postgres.Querier, p GoogleProfile) (User, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return User{}, fmt.Errorf("new user id: %w", err)
	}
	row := q.QueryRow(ctx, `
		INSERT INTO users (id, google_sub, email, name, picture_url)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (google_sub) DO UPDATE
		SET email = excluded.email, name = excluded.name, picture_url = excluded.picture_url, updated_at = now()
		RETURNING `+userColumns,
		id, p.Subject, p.Email, p.Name, p.PictureURL)
	u, err := scanUser(row)
	if err != nil {
		return User{}, userError("upsert Google user", p.Email, err)
	}
	return u, nil
}

// UpsertLocal returns the user with email (compared case-insensitively),
// creating one without a Google subject when there is none. A non-empty name
// replaces the stored one. It exists for dev-login and tests; nothing else
// creates users without Google.
func (s *Users) UpsertLocal(ctx context.Context, email, name string) (User, error) {
	return upsertLocal(ctx, s.db, email, name, false)
}

// UpsertLocalTx is UpsertLocal inside tx.
func (s *Users) UpsertLocalTx(ctx context.Context, tx pgx.Tx, email, name string) (User, error) {
	return upsertLocal(ctx, tx, email, name, false)
}

// DevLoginUser is UpsertLocal for dev-login: it never returns a user who
// has a Google identity, whose account only Google may open. For such an
// email it fails with apperr.Forbidden and changes nothing.
func (s *Users) DevLoginUser(ctx context.Context, email, name string) (User, error) {
	return upsertLocal(ctx, s.db, email, name, true)
}

func upsertLocal(ctx context.Context, q postgres.Querier, email, name string, notGoogle bool) (User, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return User{}, fmt.Errorf("new user id: %w", err)
	}
	// The WHERE of DO UPDATE skips the row, and so returns none, for a
	// Google-linked user when notGoogle is set.
	row := q.QueryRow(ctx, `
		INSERT INTO users (id, email, name) VALUES ($1, $2, $3)
		ON CONFLICT ((lower(email))) DO UPDATE
		SET name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE users.name END, updated_at = now()
		WHERE NOT $4 OR users.google_sub IS NULL
		RETURNING `+userColumns,
		id, email, name, notGoogle)
	u, err := scanUser(row)
	if notGoogle && errors.Is(err, pgx.ErrNoRows) {
		return User{}, apperr.New(apperr.Forbidden, "%s belongs to a Google account: sign in with Google", email)
	}
	if err != nil {
		return User{}, userError("upsert local user", email, err)
	}
	return u, nil
}

func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	err := row.Scan(append([]any{&u.ID, &u.Email, &u.Name, &u.PictureURL, &u.CreatedAt}, extra...)...)
	return u, err
}

func userError(op, email string, err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" && pg.ConstraintName == "users_email_lower_idx" {
		return apperr.Wrap(apperr.Conflict, err, "the email address %s already belongs to another account", email)
	}
	return fmt.Errorf("%s: %w", op, err)
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options configure a DB. Zero values take the defaults below.
type Options struct {
	URL            string        // pooled connection URL (DATABASE_URL)
	ExecMode       string        // exec (default), cache_describe, simple_protocol, cache_statement, describe_exec
	MaxConns       int32         // default 2
	MaxConnIdle    time.Duration // default 60s: well under Neon's 5-minute suspend
	AcquireTimeout time.Duration // default 5s
	ConnectTimeout time.Duration // default 5s
}

// Querier is what stores need to run SQL: a DB, a pgx.Tx or a pgx.Conn.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB is a lazily connected pool. It is safe for concurrent use.
type DB struct {
	pool           *pgxpool.Pool
	acquireTimeout time.Duration
}

var _ Querier = (*DB)(nil)

// ErrAcquire wraps every failure to get a connection (pooler down, deadline, bad credentials).
var ErrAcquire = errors.New("database unavailable")

// New validates opts and builds the pool without connecting. It fails when the
// URL cannot be parsed (the error never contains the password) or the exec
// mode is unknown.
func New(opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DATABASE_URL (%s): %w", Redact(opts.URL), errors.Unwrap(err))
	}
	mode, err := ParseExecMode(opts.ExecMode)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.DefaultQueryExecMode = mode
	cfg.MaxConns = orDefault(opts.MaxConns, 2)
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = orDefault(opts.MaxConnIdle, 60*time.Second)
	cfg.MaxConnLifetime = 30 * time.Minute
	cfg.HealthCheckPeriod = 30 * time.Second
	cfg.ConnConfig.ConnectTimeout = orDefault(opts.ConnectTimeout, 5*time.Second)
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "redub"
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: new pool: %w", err)
	}
	return &DB{pool: pool, acquireTimeout: orDefault(opts.AcquireTimeout, 5*time.Second)}, nil
}

// ParseExecMode maps a DATABASE_EXEC_MODE value to pgx's query exec mode.
func ParseExecMode(s string) (pgx.QueryExecMode, error) {
	switch strings.ToLower(s) {
	case "", "exec":
		return pgx.QueryExecModeExec, nil
	case "cache_describe":
		return pgx.QueryExecModeCacheDescribe, nil
	case "simple_protocol":
		return pgx.QueryExecModeSimpleProtocol, nil
	case "cache_statement":
		return pgx.QueryExecModeCacheStatement, nil
	case "describe_exec":
		return pgx.QueryExecModeDescribeExec, nil
	}
	return 0, fmt.Errorf("postgres: unknown DATABASE_EXEC_MODE %q (want exec, cache_describe, simple_protocol, cache_statement or describe_exec)", s)
}

// Close closes every connection. It is safe to call more than once.
func (db *DB) Close() { db.pool.Close() }

// Pool exposes the underlying pool for tools that need pgx directly.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Acquire gets a connection within the acquire deadline. The caller must
// Release it. Failures wrap ErrAcquire.
func (db *DB) Acquire(ctx context.Context) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, db.acquireTimeout)
	defer cancel()
	c, err := db.pool.Acquire(actx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("acquire connection: %w", ctx.Err())
		}
		return nil, fmt.Errorf("%w: acquire connection within %s: %w", ErrAcquire, db.acquireTimeout, err)
	}
	return c, nil
}

// Ping checks that a connection can be had and answers a query.
func (db *DB) Ping(ctx context.Context) error {
	c, err := db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Exec runs sql on a pooled connection.
func (db *DB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, err := db.Acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer c.Release()
	return c.Exec(ctx, sql, args...)
}

// Query runs sql on a pooled connection, released when the rows are closed.
func (db *DB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c, err := db.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		c.Release()
		return nil, err
	}
	return &connRows{Rows: rows, conn: c}, nil
}

// QueryRow runs sql on a pooled connection, released after Scan.
func (db *DB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c, err := db.Acquire(ctx)
	if err != nil {
		return errRow{err}
	}
	return &connRow{row: c.QueryRow(ctx, sql, args...), conn: c}
}

// WithTx runs fn in a transaction and commits when fn returns nil; otherwise
// (or on panic) it rolls back and returns fn's error.
func (db *DB) WithTx(ctx context.Context, fn func(tx pgx.Tx) error) (err error) {
	c, err := db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	tx, err := c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// Redact returns the URL with its password replaced, for errors and logs:
// the one in the user part and a password or sslpassword query parameter
// (libpq accepts both forms).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "unparseable URL"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return "unparseable URL"
		}
		for k := range q {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
				q[k] = []string{"xxxxx"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// WithDatabase returns the URL with its database name replaced.
func WithDatabase(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

type connRows struct {
	pgx.Rows
	conn *pgxpool.Conn
}

func (r *connRows) Close() {
	r.Rows.Close()
	if r.conn != nil {
		r.conn.Release()
		r.conn = nil
	}
}

func (r *connRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

type connRow struct {
	row  pgx.Row
	conn *pgxpool.Conn
}

func (r *connRow) Scan(dest ...any) error {
	defer r.conn.Release()
	return r.row.Scan(dest...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

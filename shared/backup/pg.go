package backup

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/redub/redub/shared/config"
)

// Where the PgToolsLayer puts the programs.
const (
	layerPgDump    = "/opt/bin/pg_dump"
	layerPgRestore = "/opt/bin/pg_restore"
)

// program returns path when it is set, else the layer's copy when it exists,
// else name looked up in PATH.
func program(path, layer, name string) (string, error) {
	if path != "" {
		return path, nil
	}
	if _, err := os.Stat(layer); err == nil {
		return layer, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is neither at %s (attach the PgToolsLayer) nor in PATH (install postgresql-client): %w", name, layer, err)
	}
	return p, nil
}

// clientVersion runs `prog --version` and returns its line and major version.
func clientVersion(ctx context.Context, prog string) (string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, "--version").Output()
	if err != nil {
		return "", 0, fmt.Errorf("%s --version: %w", prog, err)
	}
	line := strings.TrimSpace(string(out))
	major, ok := parseClientVersion(line)
	if !ok {
		return "", 0, fmt.Errorf("%s --version: cannot read a PostgreSQL version in %q", prog, line)
	}
	return line, major, nil
}

// parseClientVersion reads the major version from a line such as
// "pg_dump (PostgreSQL) 17.2 (Debian 17.2-1.pgdg120+1)", "pg_dump (PostgreSQL)
// 18beta1" or "pg_dump (PostgreSQL) 9.6.24" (major 906).
func parseClientVersion(line string) (int, bool) {
	const marker = "(PostgreSQL) "
	i := strings.Index(line, marker)
	if i < 0 {
		return 0, false
	}
	nums := leadingNumbers(line[i+len(marker):])
	switch {
	case len(nums) == 0 || nums[0] <= 0:
		return 0, false
	case nums[0] < 10 && len(nums) > 1:
		return nums[0]*100 + nums[1], true
	case nums[0] < 10:
		return 0, false
	}
	return nums[0], true
}

// leadingNumbers reads "17.2 (Debian...)" as [17 2] and "18beta1" as [18].
func leadingNumbers(s string) []int {
	var nums []int
	for {
		j := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == 0 {
			return nums
		}
		n, err := strconv.Atoi(s[:j])
		if err != nil {
			return nums
		}
		nums = append(nums, n)
		if j == len(s) || s[j] != '.' {
			return nums
		}
		s = s[j+1:]
	}
}

// serverMajor turns server_version_num into a major version: 170002 is 17,
// 90624 is 906.
func serverMajor(num int) int {
	if num >= 100000 {
		return num / 10000
	}
	return num / 100
}

// libpq returns what a libpq program needs to reach the database at raw: the
// URL without its password, for --dbname, and the environment that carries
// the password instead (PGPASSWORD), since a command line is visible to every
// process on the host.
func libpq(raw string) (dbname string, env []string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// url.Parse's error may quote the password.
		return "", nil, errors.New("the database URL is not a postgres:// URL")
	}
	// Nothing of the function's own environment: pg_dump needs no AWS
	// credentials and no other secret than this database's password.
	env = config.ChildEnv()
	if p, ok := u.User.Password(); ok {
		u.User = url.User(u.User.Username())
		env = append(env, "PGPASSWORD="+p)
	}
	return u.String(), env, nil
}

// querier is what counting rows needs of a connection or transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// userRelations matches the relations pg_dump writes out as the database's
// own: not the system catalogs, not temporary or TOAST tables, not members
// of an extension (the extension's script creates those).
const userRelations = `
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`

// countRows returns the exact row count of every ordinary table, keyed
// "schema.table".
func countRows(ctx context.Context, q querier) (map[string]int64, error) {
	rows, err := q.Query(ctx, `SELECT n.nspname, c.relname `+userRelations+` AND c.relkind = 'r' ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var names [][2]string
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list tables: %w", err)
		}
		names = append(names, [2]string{schema, table})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	counts := make(map[string]int64, len(names))
	for _, n := range names {
		var c int64
		if err := q.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{n[0], n[1]}.Sanitize()).Scan(&c); err != nil {
			return nil, fmt.Errorf("count rows of %s.%s: %w", n[0], n[1], err)
		}
		counts[n[0]+"."+n[1]] = c
	}
	return counts, nil
}

// relationCount counts the tables, views, sequences and foreign tables a
// database holds of its own.
func relationCount(ctx context.Context, q querier) (int, error) {
	var n int
	if err := q.QueryRow(ctx, `SELECT count(*) `+userRelations+` AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("look at the target database: %w", err)
	}
	return n, nil
}

// tail keeps the last bytes written to it: a program's stderr for an error
// message, without holding all of it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// runError describes a failed program with the end of its stderr.
func runError(name string, err error, stderr *tail) error {
	if msg := stderr.String(); msg != "" {
		return fmt.Errorf("%s: %w: %s", name, err, msg)
	}
	return fmt.Errorf("%s: %w", name, err)
}

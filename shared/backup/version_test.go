package backup

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/config"
)

func TestParseClientVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line  string
		major int
		ok    bool
	}{
		{"pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", 15, true},
		{"pg_dump (PostgreSQL) 17.2 (Debian 17.2-1.pgdg120+1)", 17, true},
		{"pg_restore (PostgreSQL) 14.0", 14, true},
		{"pg_dump (PostgreSQL) 18beta1", 18, true},
		{"pg_dump (PostgreSQL) 9.6.24", 906, true},
		{"pg_dump (PostgreSQL) 9", 0, false},
		{"pg_dump 17.2", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			t.Parallel()
			major, ok := parseClientVersion(tt.line)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.major, major)
		})
	}
}

func TestServerMajor(t *testing.T) {
	t.Parallel()
	require.Equal(t, 17, serverMajor(170002))
	require.Equal(t, 16, serverMajor(160006))
	require.Equal(t, 906, serverMajor(90624))
	require.Equal(t, "9.6", majorName(906))
	require.Equal(t, "17", majorName(17))
}

func TestVersionErrorNamesBothVersionsAndTheFix(t *testing.T) {
	t.Parallel()
	err := &VersionError{Program: "pg_dump", Have: 15, Need: 17}
	require.Equal(t, "pg_dump 15 cannot dump a PostgreSQL 17 server; build the PgToolsLayer with PG_MAJOR=17", err.Error())
}

func TestLibpqKeepsThePasswordOffTheCommandLine(t *testing.T) {
	t.Parallel()
	dbname, env, err := libpq("postgres://redub:s3cr%40t@db.example.com:5432/redub?sslmode=require")
	require.NoError(t, err)
	require.Equal(t, "postgres://redub@db.example.com:5432/redub?sslmode=require", dbname)
	require.Equal(t, "PGPASSWORD=s3cr@t", env[len(env)-1])
}

// TestPgDumpEnvironment runs a real child with the environment libpq
// returns, with credentials in this process's environment, and reads the
// child's /proc/<pid>/environ: the fixed child environment and the database
// password, nothing else.
func TestPgDumpEnvironment(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "pg-env-secret")
	t.Setenv("AUTH_SECRET", "pg-env-auth-secret-0123456789abcdef")
	_, env, err := libpq("postgres://redub:pw@db.example.com/redub")
	require.NoError(t, err)
	cmd := exec.CommandContext(t.Context(), "cat", "/proc/self/environ")
	cmd.Env = env
	out, err := cmd.Output()
	require.NoError(t, err)
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	require.Equal(t, append(config.ChildEnv(), "PGPASSWORD=pw"), got)
}

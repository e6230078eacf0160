package pgstack

import (
	"fmt"
	"strconv"
	"strings"
)

// roleName is the superuser initdb creates and the database every stack has.
const roleName = "redub"

// postgresArgs are the server's command line. Settings live here rather than in
// postgresql.conf because the port changes on every start; the rest trade
// durability for speed, which is right for data that tests throw away.
func postgresArgs(l *layout, port int) []string {
	settings := []string{
		"listen_addresses=127.0.0.1",
		"port=" + strconv.Itoa(port),
		// Double quotes keep a directory with a comma or space in it one entry.
		`unix_socket_directories="` + l.sockDir + `"`,
		"max_connections=300",
		"fsync=off",
		"synchronous_commit=off",
		"full_page_writes=off",
		"timezone=UTC",
		"log_timezone=UTC",
		"log_line_prefix=%m [%p] ",
	}
	args := []string{"-D", l.dataDir}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	return args
}

// initdbArgs makes a cluster whose bootstrap superuser is redub, so no role has
// to be created afterwards. --no-sync saves most of initdb's time.
func initdbArgs(dataDir string) []string {
	return []string{
		"-D", dataDir,
		"-U", roleName,
		"--auth=trust",
		"--encoding=UTF8",
		"--locale=C.UTF-8",
		"--no-sync",
		"--no-instructions",
	}
}

// hbaConf trusts TCP connections from 127.0.0.1 only, and the unix sockets,
// which give no one more than 127.0.0.1 already does (as root they sit in a
// 0700 directory of the postgres user).
const hbaConf = `# Written by pgstack.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
`

// bouncerConf is PgBouncer's configuration. The wildcard database lets a
// client ask for any database name, which tests that create a database each
// need. auth_type=any logs everyone in as the user of the database entry.
func bouncerConf(l *layout, pgPort, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "; Written by pgstack on every start; edits are lost.\n")
	fmt.Fprintf(&b, "[databases]\n* = host=127.0.0.1 port=%d user=%s\n\n", pgPort, roleName)
	fmt.Fprintf(&b, "[pgbouncer]\n")
	settings := [][2]string{
		{"listen_addr", "127.0.0.1"},
		{"listen_port", strconv.Itoa(port)},
		{"unix_socket_dir", l.sockDir},
		{"pidfile", l.bouncerPid()},
		{"auth_type", "any"},
		{"pool_mode", "transaction"},
		{"default_pool_size", "5"},
		{"max_client_conn", "1000"},
		{"server_idle_timeout", "10"},
		// The default 15s makes a pool refuse clients for 15s after one failed
		// login, e.g. a test that connects before its database exists.
		{"server_login_retry", "1"},
		// Pools for databases tests have dropped would otherwise linger an hour.
		{"autodb_idle_timeout", "60"},
		{"ignore_startup_parameters", "extra_float_digits,search_path"},
		{"log_connections", "0"},
		{"log_disconnections", "0"},
	}
	for _, s := range settings {
		fmt.Fprintf(&b, "%s = %s\n", s[0], s[1])
	}
	return b.String()
}

package pgstack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// maxSocketPath is the longest unix socket path Linux accepts (sun_path less
// its terminating NUL).
const maxSocketPath = 107

// layout says where a stack keeps its files; see the package documentation.
type layout struct {
	dir     string              // Options.Dir, absolute: logs, state, lock
	runDir  string              // data, sockets, pgbouncer.ini, pid file; dir unless root
	dataDir string              // runDir/data
	sockDir string              // runDir unless its socket paths would be too long
	owner   *syscall.Credential // who runs the servers when we are root; nil otherwise
}

func newLayout(dir string) (*layout, error) {
	if dir == "" {
		return nil, errors.New("pgstack: Options.Dir is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", dir, err)
	}
	l := &layout{dir: abs, runDir: abs}
	if os.Geteuid() == 0 {
		owner, err := postgresUser()
		if err != nil {
			return nil, err
		}
		l.owner = owner
		l.runDir = filepath.Join("/var/tmp", "redub-"+shortHash(abs))
	}
	l.dataDir = filepath.Join(l.runDir, "data")
	l.sockDir = l.runDir
	if len(l.sockDir)+len("/.s.PGSQL.65535.lock") > maxSocketPath {
		l.sockDir = filepath.Join(os.TempDir(), fmt.Sprintf("redub-%d-%s", os.Getuid(), shortHash(abs)))
	}
	return l, nil
}

// postgresUser returns the credentials of the postgres system user, which
// runs the servers when the caller is root.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres system user to run the servers as (it comes with the Debian postgresql package; run: %s): %w", installHint, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user: gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

func (l *layout) path(name string) string    { return filepath.Join(l.dir, name) }
func (l *layout) runPath(name string) string { return filepath.Join(l.runDir, name) }
func (l *layout) bouncerIni() string         { return l.runPath("pgbouncer.ini") }
func (l *layout) bouncerPid() string         { return l.runPath("pgbouncer.pid") }
func (l *layout) postmasterPid() string      { return filepath.Join(l.dataDir, "postmaster.pid") }

// prepare creates the directories, giving the ones the servers write to to
// the postgres user when we are root.
func (l *layout) prepare() error {
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	if l.runDir != l.dir {
		if err := l.privateDir(l.runDir); err != nil {
			return err
		}
		note := fmt.Sprintf("%s\n# The servers run as the postgres user, which may not reach this directory,\n# so the data, sockets and pgbouncer.ini live in the directory above.\n", l.runDir)
		if err := os.WriteFile(l.path("location"), []byte(note), 0o644); err != nil {
			return fmt.Errorf("write location file: %w", err)
		}
	}
	if l.sockDir != l.runDir {
		if err := l.privateDir(l.sockDir); err != nil {
			return err
		}
	}
	return nil
}

// privateDir makes dir a 0700 directory owned by whoever runs the servers,
// refusing anything that is not a plain directory (a symlink planted in
// /var/tmp, say).
func (l *layout) privateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", dir)
	}
	if l.owner != nil {
		if err := os.Chown(dir, int(l.owner.Uid), int(l.owner.Gid)); err != nil {
			return fmt.Errorf("give %s to postgres: %w", dir, err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil { //nolint:gosec // a directory needs its x bit
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// writeRunFile writes a file the servers read, owned by them when we are root.
func (l *layout) writeRunFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if l.owner != nil {
		if err := os.Chown(path, int(l.owner.Uid), int(l.owner.Gid)); err != nil {
			return fmt.Errorf("give %s to postgres: %w", path, err)
		}
	}
	return nil
}

// isPostgres reports whether pid is the postmaster (or a backend) of our
// cluster: every postgres process runs inside its data directory.
func (l *layout) isPostgres(pid int) bool {
	return pidAlive(pid) && procComm(pid) == "postgres" && procCwd(pid) == l.dataDir
}

// isBouncer reports whether pid is a PgBouncer reading our configuration.
func (l *layout) isBouncer(pid int) bool {
	return pidAlive(pid) && procComm(pid) == "pgbouncer" && slices.Contains(procArgs(pid), l.bouncerIni())
}

// state is what stack.json records about a running stack.
type state struct {
	PostgresPID  int    `json:"postgres_pid"`
	BouncerPID   int    `json:"pgbouncer_pid"`
	PostgresPort int    `json:"postgres_port"`
	BouncerPort  int    `json:"pgbouncer_port"`
	PooledURL    string `json:"pooled_url"`
	DirectURL    string `json:"direct_url"`
	DataDir      string `json:"data_dir"`
}

func (l *layout) statePath() string { return l.path("stack.json") }

func (l *layout) readState() (state, error) {
	var st state
	b, err := os.ReadFile(l.statePath())
	if err != nil {
		return st, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("read %s: %w", l.statePath(), err)
	}
	return st, nil
}

func (l *layout) writeState(st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := os.WriteFile(l.statePath(), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

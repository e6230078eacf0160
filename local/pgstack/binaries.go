package pgstack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// installHint is the command that installs everything this package runs.
const installHint = "apt-get install -y postgresql pgbouncer"

// pgRoot is where Debian installs one bin directory per PostgreSQL major version.
const pgRoot = "/usr/lib/postgresql"

// MissingError reports a program that is not installed and the Debian package
// that provides it.
type MissingError struct {
	Program string // "postgres", "initdb" or "pgbouncer"
	Package string // the Debian package that provides Program
}

func (e *MissingError) Error() string {
	hint := installHint
	if e.Package != "postgresql" && e.Package != "pgbouncer" {
		// A cluster made by another major version than the newest installed.
		hint = "apt-get install -y " + e.Package + " (or delete the state directory to start over)"
	}
	return fmt.Sprintf("%s not found (Debian package %s); run: %s", e.Program, e.Package, hint)
}

// Binaries returns the bin directory of the newest PostgreSQL installed under
// /usr/lib/postgresql and the path of pgbouncer. A missing program is reported
// as a *MissingError that names its Debian package.
func Binaries() (pgBin string, bouncer string, err error) {
	pgBin, err = postgresBin("")
	if err != nil {
		return "", "", err
	}
	bouncer, err = bouncerPath()
	if err != nil {
		return "", "", err
	}
	return pgBin, bouncer, nil
}

// postgresBin returns the bin directory of PostgreSQL major version, or of the
// newest one installed when version is empty.
func postgresBin(version string) (string, error) {
	if version != "" {
		dir := filepath.Join(pgRoot, version, "bin")
		if !hasServer(dir) {
			return "", &MissingError{Program: "postgres " + version, Package: "postgresql-" + version}
		}
		return dir, nil
	}
	entries, err := os.ReadDir(pgRoot)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("find postgres: %w", err)
	}
	best, bestDir := -1, ""
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n <= best {
			continue
		}
		if dir := filepath.Join(pgRoot, e.Name(), "bin"); hasServer(dir) {
			best, bestDir = n, dir
		}
	}
	if bestDir == "" {
		return "", &MissingError{Program: "postgres", Package: "postgresql"}
	}
	return bestDir, nil
}

func hasServer(dir string) bool {
	for _, name := range []string{"postgres", "initdb"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// bouncerPath finds pgbouncer. Debian puts it in /usr/sbin, which is often not
// on a normal user's PATH.
func bouncerPath() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	const sbin = "/usr/sbin/pgbouncer"
	if _, err := os.Stat(sbin); err == nil {
		return sbin, nil
	}
	return "", &MissingError{Program: "pgbouncer", Package: "pgbouncer"}
}

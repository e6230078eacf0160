package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/joho/godotenv"
)

// WithDotEnv returns a getenv that consults getenv first and then the
// KEY=VALUE pairs of the file at path (godotenv syntax: comments, quotes,
// "export", ${VAR} expansion from earlier lines of the file). A missing file
// is not an error: getenv is returned as is. A file that cannot be read is
// an error naming it; a malformed one is a *DotEnvError naming the file and
// the line.
func WithDotEnv(getenv func(string) string, path string) (func(string) string, error) {
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return getenv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: read dotenv file: %w", err)
	}
	vars, ok := parseDotEnv(src)
	if !ok {
		return nil, &DotEnvError{Path: path, Line: badLine(src)}
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return vars[name]
	}, nil
}

// parseDotEnv parses src, also refusing what godotenv lets through silently:
// a last line without "=" and names that are empty or contain spaces.
func parseDotEnv(src []byte) (map[string]string, bool) {
	if !bytes.HasSuffix(src, []byte("\n")) {
		src = append(src[:len(src):len(src)], '\n')
	}
	vars, err := godotenv.UnmarshalBytes(src)
	if err != nil {
		return nil, false
	}
	for name := range vars {
		if !validDotEnvName(name) {
			return nil, false
		}
	}
	return vars, true
}

func validDotEnvName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r != '_' && r != '.' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// badLine returns the 1-based line where the statement that fails to parse
// starts. godotenv's errors carry no line and quote the text (maybe a
// secret), so the line is found instead: the file parses up to the line
// before the bad statement and fails from that line to the end.
func badLine(src []byte) int {
	lines := bytes.SplitAfter(src, []byte("\n"))
	for n := len(lines) - 1; n > 0; n-- {
		if _, ok := parseDotEnv(bytes.Join(lines[:n], nil)); ok {
			return n + 1
		}
	}
	return 1
}

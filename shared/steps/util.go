package steps

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// decodeKey undoes S3's event key encoding (form encoding: '+' is a space).
func decodeKey(k string) (string, error) { return url.QueryUnescape(k) }

func writeFile(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

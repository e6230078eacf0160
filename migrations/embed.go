// Package migrations holds the numbered SQL migrations, embedded into every
// binary that applies them, and the code that applies, reverts and checks them.
//
// Migrations must stay backward compatible with the code already running:
// expand in one release, contract in a later one.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed 0*.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() fs.FS { return files }

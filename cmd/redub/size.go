package main

import (
	"archive/zip"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// runSize zips each dist/<LogicalId>/bootstrap the way SAM packages it and
// prints the zipped and unzipped sizes, failing when one is over the budget.
func runSize(_ context.Context, args []string, env *environ) error {
	fs := flag.NewFlagSet("size", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	maxMiB := fs.Float64("max-mib", 5, "zipped size budget per function, in MiB")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: redub size [--max-mib N] <dist dir>", errUsage)
	}
	bins, err := filepath.Glob(filepath.Join(fs.Arg(0), "*", "bootstrap"))
	if err != nil || len(bins) == 0 {
		return fmt.Errorf("size: no */bootstrap under %s: run `make build` first", fs.Arg(0))
	}
	sort.Strings(bins)
	limit := int64(*maxMiB * (1 << 20))
	var over []string
	fmt.Fprintf(env.stdout, "%-28s %12s %12s\n", "function", "unzipped", "zipped")
	for _, b := range bins {
		raw, zipped, err := zipSize(b)
		if err != nil {
			return err
		}
		name := filepath.Base(filepath.Dir(b))
		mark := ""
		if zipped > limit {
			mark = "  OVER BUDGET"
			over = append(over, name)
		}
		fmt.Fprintf(env.stdout, "%-28s %9.2f MiB %9.2f MiB%s\n", name, mib(raw), mib(zipped), mark)
	}
	if len(over) > 0 {
		return fmt.Errorf("size: %v over the %.1f MiB zipped budget", over, *maxMiB)
	}
	return nil
}

func zipSize(path string) (raw, zipped int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("size: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err != nil {
		return 0, 0, fmt.Errorf("size: zip %s: %w", path, err)
	}
	raw, err = io.Copy(w, f)
	if err != nil {
		return 0, 0, fmt.Errorf("size: zip %s: %w", path, err)
	}
	if err := zw.Close(); err != nil {
		return 0, 0, fmt.Errorf("size: zip %s: %w", path, err)
	}
	return raw, int64(buf.Len()), nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

package templatecheck

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redub/redub/local/template"
)

// LogicalID is the Makefile's logical_id for a function folder:
// health-ready is HealthReadyFunction (the local stack's rule, shared).
func LogicalID(folder string) string { return template.LogicalID(folder) }

// Folder is the Makefile's folder_of for a function's logical id:
// HealthReadyFunction builds from functions/health-ready.
func Folder(logicalID string) string { return template.Folder(logicalID) }

// FunctionFolders checks that the folders under functions/ (next to the
// template) and the template's functions match one to one, by [LogicalID].
// It returns a plain error when functions/ cannot be read.
func FunctionFolders(t *Template) error {
	entries, err := os.ReadDir(filepath.Join(t.Dir, "functions"))
	if err != nil {
		return fmt.Errorf("function folders: %w", err)
	}
	folders := map[string]string{} // logical id -> folder
	for _, e := range entries {
		if e.IsDir() {
			folders[LogicalID(e.Name())] = e.Name()
		}
	}
	var ps problems
	for _, id := range slices.Sorted(maps.Keys(folders)) {
		if t.TypeOf(id) != TypeFunction {
			ps.add("functions/"+folders[id], "the template has no %s (an AWS::Serverless::Function) for this folder", id)
		}
	}
	for _, id := range t.IDs(TypeFunction) {
		if _, ok := folders[id]; !ok {
			ps.add(id, "no folder functions/%s to build it from", Folder(id))
		}
	}
	return ps.err()
}

// architecture is a function's Architectures entry; SAM's default is x86_64.
func architecture(t *Template, fn string) string {
	if archs := list(t.FunctionProperties(fn)["Architectures"]); len(archs) == 1 {
		if a, ok := archs[0].(string); ok {
			return a
		}
	}
	return "x86_64"
}

var goBuildLine = regexp.MustCompile(`GOARCH=(\S+).*\bgo build\b.*\s(\./functions/\S+)\s*$`)

// BuildTargets checks the Makefile against the template, as `sam build`
// will use it: `make -n build-<LogicalId>` succeeds for every function and
// every makefile-built layer; a function's target builds
// ./functions/<Folder> for the GOARCH of its Architectures (amd64 for
// x86_64); and X86_FUNCTIONS lists exactly the x86_64 functions. It runs
// make in Dir; a plain error means make itself could not run.
func BuildTargets(t *Template) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var ps problems
	x86 := map[string]bool{}
	for _, fn := range t.IDs(TypeFunction) {
		arch := architecture(t, fn)
		want := map[string]string{"x86_64": "amd64", "arm64": "arm64"}[arch]
		if want == "" {
			ps.add(fn, "Architectures %q is neither x86_64 nor arm64", arch)
		}
		if arch == "x86_64" {
			x86[strings.TrimSuffix(fn, "Function")] = true
		}
		out, err := runMake(ctx, t.Dir, "-n", "build-"+fn, "ARTIFACTS_DIR=/templatecheck/"+fn, "VERSION=check", "COMMIT=check")
		if err != nil {
			ps.add(fn, "make -n build-%s fails: %v: %s", fn, err, lastLine(out))
			continue
		}
		var goarch, pkg string
		for _, line := range strings.Split(out, "\n") {
			if m := goBuildLine.FindStringSubmatch(line); m != nil {
				goarch, pkg = m[1], m[2]
			}
		}
		switch {
		case pkg == "":
			ps.add(fn, "make -n build-%s runs no `go build ./functions/...`", fn)
		case pkg != "./functions/"+Folder(fn):
			ps.add(fn, "make build-%s builds %s, want ./functions/%s", fn, pkg, Folder(fn))
		case !isDir(filepath.Join(t.Dir, pkg)):
			ps.add(fn, "make build-%s builds %s, which does not exist", fn, pkg)
		}
		if want != "" && pkg != "" && goarch != want {
			ps.add(fn, "Architectures is %s, but make build-%s builds GOARCH=%s (the Makefile's X86_FUNCTIONS decides)", arch, fn, goarch)
		}
	}
	for _, layer := range t.IDs(TypeLayer) {
		if meta, _ := t.Resource(layer)["Metadata"].(map[string]any); meta["BuildMethod"] != "makefile" {
			continue
		}
		if out, err := runMake(ctx, t.Dir, "-n", "build-"+layer, "ARTIFACTS_DIR=/templatecheck/"+layer); err != nil {
			ps.add(layer, "make -n build-%s fails: %v: %s", layer, err, lastLine(out))
		}
	}
	out, err := runMake(ctx, t.Dir, "-s", "--no-print-directory",
		"--eval", "templatecheck-x86-functions: ; @echo $(X86_FUNCTIONS)", "templatecheck-x86-functions")
	if err != nil {
		return fmt.Errorf("read X86_FUNCTIONS from the Makefile: %w: %s", err, out)
	}
	listed := map[string]bool{}
	for _, stem := range strings.Fields(out) {
		listed[stem] = true
		if !x86[stem] {
			ps.add("Makefile", "X86_FUNCTIONS lists %s, but %sFunction is not an x86_64 function of the template", stem, stem)
		}
	}
	for _, stem := range slices.Sorted(maps.Keys(x86)) {
		if !listed[stem] {
			ps.add(stem+"Function", "Architectures is x86_64 (SAM's default when unset), but the Makefile's X86_FUNCTIONS does not list %s", stem)
		}
	}
	return ps.err()
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// makeEnv is the environment for make: this process's, without what would
// change the Makefile's choices (GOARCH) or tie it to a parent make.
func makeEnv(extra []string) []string {
	drop := []string{"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES", "GOARCH", "GOOS", "ARTIFACTS_DIR", "LAYER_PREFIX"}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, name) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func runMake(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = dir
	cmd.Env = makeEnv(nil)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// --- sizes --------------------------------------------------------------------

// LambdaUnzippedLimit is Lambda's limit, in bytes, on a function's
// deployment package and all its layers, unzipped.
const LambdaUnzippedLimit = 262_144_000

// Builder builds one function or layer, by logical id, into dir.
type Builder func(ctx context.Context, logicalID, dir string) error

// MakeBuilder builds as `sam build` does with BuildMethod makefile: `make
// build-<LogicalId> ARTIFACTS_DIR=<dir>` in repoDir, with env added to the
// environment (for example "PG_MAJOR=15"). Its error carries make's output.
func MakeBuilder(repoDir string, env ...string) Builder {
	return func(ctx context.Context, id, dir string) error {
		cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "build-"+id, "ARTIFACTS_DIR="+dir)
		cmd.Dir = repoDir
		cmd.Env = makeEnv(env)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("make build-%s: %w:\n%s", id, err, bytes.TrimSpace(out))
		}
		return nil
	}
}

// Size is one function's unzipped deployment.
type Size struct {
	Function string
	Bytes    int64            // the function's own artifacts
	Layers   map[string]int64 // each layer's artifacts, by logical id
}

// Total is the function with its layers.
func (s Size) Total() int64 {
	total := s.Bytes
	for _, b := range s.Layers {
		total += b
	}
	return total
}

// Sizes builds every function that has layers, and each of those layers
// once, into workDir/<LogicalId>, concurrently, and measures them: the bytes
// of every file, as Lambda unzips them. A layer must be !Ref to a layer of
// this template (an ARN cannot be measured). It returns the sizes sorted by
// function, or the build and measuring errors joined.
func Sizes(ctx context.Context, t *Template, build Builder, workDir string) ([]Size, error) {
	var ps problems
	uses := map[string][]string{} // function -> layers
	for _, fn := range t.IDs(TypeFunction) {
		for _, l := range list(t.FunctionProperties(fn)["Layers"]) {
			id, _, ok := target(l)
			if !ok || t.TypeOf(id) != TypeLayer {
				ps.add(fn, "layer %s is not !Ref to a layer of this template, so its size is unknown", compact(l))
				continue
			}
			uses[fn] = append(uses[fn], id)
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	targets := map[string]bool{}
	for fn, layers := range uses {
		targets[fn] = true
		for _, l := range layers {
			targets[l] = true
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		measured = map[string]int64{}
		errs     []error
	)
	for id := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := filepath.Join(workDir, id)
			err := build(ctx, id, dir)
			var n int64
			if err == nil {
				n, err = dirSize(dir)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, &Problem{Resource: id, Detail: err.Error()})
				return
			}
			measured[id] = n
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, problems(errs).err()
	}
	var out []Size
	for _, fn := range slices.Sorted(maps.Keys(uses)) {
		s := Size{Function: fn, Bytes: measured[fn], Layers: map[string]int64{}}
		for _, l := range uses[fn] {
			s.Layers[l] = measured[l]
		}
		out = append(out, s)
	}
	return out, nil
}

// UnzippedSizes builds and measures as [Sizes] does and checks that every
// function with layers stays under [LambdaUnzippedLimit] with them. It
// returns the sizes it measured, for the record, with the problems.
func UnzippedSizes(ctx context.Context, t *Template, build Builder, workDir string) ([]Size, error) {
	sizes, err := Sizes(ctx, t, build, workDir)
	if err != nil {
		return nil, err
	}
	var ps problems
	for _, s := range sizes {
		if s.Total() >= LambdaUnzippedLimit {
			ps.add(s.Function, "%d bytes unzipped with its layers %v (%d bytes of its own), over Lambda's %d", s.Total(), s.Layers, s.Bytes, LambdaUnzippedLimit)
		}
	}
	return sizes, ps.err()
}

// dirSize adds up the sizes of the files under dir, following symbolic
// links to files (a zip stores what they point at).
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			total += st.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("measure %s: %w", dir, err)
	}
	return total, nil
}

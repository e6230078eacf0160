package layers_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// emptyEnv runs a program with no variables at all: no PATH, no
// LD_LIBRARY_PATH. A nil Env would inherit the test's environment.
var emptyEnv = []string{}

// lambdaLikeEnv points LD_LIBRARY_PATH at the host's libraries first, as
// Lambda does (/lib64:/usr/lib64:...:/opt/lib): the layer must still load its
// own libc and libraries, not the host's.
var lambdaLikeEnv = []string{
	"LD_LIBRARY_PATH=/lib64:/usr/lib64:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:" +
		"/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu:/lib:/usr/lib",
}

func TestFFmpegLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 250 MB layer")
	}
	layer := buildLayer(t, "ffmpeg/build.sh")

	t.Run("self-contained", func(t *testing.T) {
		requireSelfContained(t, layer, "ffmpeg", "ffprobe")
	})

	t.Run("loader resolves every library inside the layer", func(t *testing.T) {
		for _, prog := range []string{"ffmpeg", "ffprobe"} {
			requireResolvesInside(t, layer, prog, emptyEnv)
			requireResolvesInside(t, layer, prog, lambdaLikeEnv)
		}
	})

	t.Run("encodes and probes with an empty environment", func(t *testing.T) {
		work := t.TempDir()
		ffmpeg := exec.Command(filepath.Join(layer, "bin", "ffmpeg"),
			"-nostdin", "-hide_banner", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", "testsrc2=d=1:s=320x240",
			"-f", "lavfi", "-i", "sine=d=1",
			"-c:v", "libx264", "-c:a", "aac", "out.mp4")
		ffmpeg.Dir = work
		ffmpeg.Env = emptyEnv
		out, err := ffmpeg.CombinedOutput()
		require.NoError(t, err, "ffmpeg: %s", out)

		ffprobe := exec.Command(filepath.Join(layer, "bin", "ffprobe"),
			"-v", "error", "-of", "json",
			"-show_entries", "stream=codec_type,codec_name:format=duration", "out.mp4")
		ffprobe.Dir = work
		ffprobe.Env = emptyEnv
		var stderr bytes.Buffer
		ffprobe.Stderr = &stderr
		out, err = ffprobe.Output()
		require.NoError(t, err, "ffprobe: %s", stderr.String())

		var probe struct {
			Streams []struct {
				CodecType string `json:"codec_type"`
				CodecName string `json:"codec_name"`
			} `json:"streams"`
			Format struct {
				Duration string `json:"duration"`
			} `json:"format"`
		}
		require.NoError(t, json.Unmarshal(out, &probe), "ffprobe output: %s", out)
		codecs := map[string]string{}
		for _, s := range probe.Streams {
			codecs[s.CodecType] = s.CodecName
		}
		require.Equal(t, map[string]string{"video": "h264", "audio": "aac"}, codecs)
		duration, err := strconv.ParseFloat(probe.Format.Duration, 64)
		require.NoError(t, err)
		require.InDelta(t, 1.0, duration, 0.2)
	})

	t.Run("a running ffmpeg maps only files from the layer", func(t *testing.T) {
		for _, env := range [][]string{emptyEnv, lambdaLikeEnv} {
			requireMapsOnlyLayer(t, layer, env)
		}
	})
}

func TestPgToolsLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a layer")
	}
	// Debian 12 ships PostgreSQL 15 only; CI with the PGDG repository builds 17.
	layer := buildLayer(t, "pgtools/build.sh", "PG_MAJOR=15")
	progs := []string{"pg_dump", "pg_restore", "psql"}

	t.Run("self-contained", func(t *testing.T) {
		requireSelfContained(t, layer, progs...)
	})

	t.Run("loader resolves every library inside the layer", func(t *testing.T) {
		for _, prog := range progs {
			requireResolvesInside(t, layer, prog, emptyEnv)
			requireResolvesInside(t, layer, prog, lambdaLikeEnv)
		}
	})

	t.Run("runs with an empty environment", func(t *testing.T) {
		for _, prog := range progs {
			cmd := exec.Command(filepath.Join(layer, "bin", prog), "--version")
			cmd.Env = emptyEnv
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s --version: %s", prog, out)
			require.Regexp(t, `^`+prog+` \(PostgreSQL\) 15\.`, string(out))
		}
	})

	t.Run("dumps and lists a real database", func(t *testing.T) {
		url := os.Getenv("DATABASE_URL_UNPOOLED")
		if url == "" {
			t.Skip("DATABASE_URL_UNPOOLED is not set (make test sets it)")
		}
		run := func(prog string, args ...string) string {
			cmd := exec.Command(filepath.Join(layer, "bin", prog), args...)
			cmd.Env = emptyEnv
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, "%s: %s", prog, stderr.String())
			return string(out)
		}
		version, err := strconv.Atoi(strings.TrimSpace(run("psql", "--no-psqlrc", "-Atc", "show server_version_num", "--dbname", url)))
		require.NoError(t, err)
		if version/10000 > 15 {
			t.Skipf("server %d is newer than pg_dump 15, which refuses it", version)
		}
		archive := filepath.Join(t.TempDir(), "schema.dump")
		run("pg_dump", "--schema-only", "--format=custom", "--file", archive, "--dbname", url)
		require.Contains(t, run("pg_restore", "--list", archive), "Archive created at")
	})
}

func TestPgToolsLayerRefusesAMajorItCannotInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("asks apt")
	}
	// A previous build in ARTIFACTS_DIR must survive a refused version.
	dir := t.TempDir()
	previous := filepath.Join(dir, "bin", "pg_dump")
	require.NoError(t, os.MkdirAll(filepath.Dir(previous), 0o755))
	require.NoError(t, os.WriteFile(previous, []byte("previous build"), 0o755))

	cmd := exec.Command("bash", "pgtools/build.sh")
	cmd.Env = append(os.Environ(), "ARTIFACTS_DIR="+dir, "PREFIX="+dir, "PG_MAJOR=99")
	out, err := cmd.CombinedOutput()

	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the build must fail: %s", out)
	require.Contains(t, string(out), "postgresql-client-99 is not installable here")
	require.Contains(t, string(out), "found: ")
	require.NotContains(t, string(out), "PgToolsLayer: "+dir, "it built a layer: %s", out)
	require.FileExists(t, previous)
}

// buildLayer runs a layer's build script into a temporary directory, with
// PREFIX set to that directory so the programs run where they are.
func buildLayer(t *testing.T, script string, env ...string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("bash", script)
	cmd.Env = append(append(os.Environ(), "ARTIFACTS_DIR="+dir, "PREFIX="+dir), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", script, out)
	t.Logf("%s", bytes.TrimSpace(out))
	return dir
}

// requireSelfContained checks the ELF headers: each program asks for the
// layer's loader and searches the layer's lib/ through DT_RPATH (which, unlike
// DT_RUNPATH, comes before LD_LIBRARY_PATH), no library has a search path of
// its own, and every NEEDED library of every file is in lib/.
func requireSelfContained(t *testing.T, layer string, progs ...string) {
	t.Helper()
	lib := filepath.Join(layer, "lib")
	loader := loaderOf(t, layer)
	for _, prog := range progs {
		f, err := elf.Open(filepath.Join(layer, "bin", prog))
		require.NoError(t, err)
		require.Equal(t, loader, interpreterOf(t, f), "%s interpreter", prog)
		rpath, err := f.DynString(elf.DT_RPATH)
		require.NoError(t, err)
		require.Equal(t, []string{lib}, rpath, "%s DT_RPATH", prog)
		runpath, err := f.DynString(elf.DT_RUNPATH)
		require.NoError(t, err)
		require.Empty(t, runpath, "%s DT_RUNPATH", prog)
		require.NoError(t, f.Close())
	}

	files, err := filepath.Glob(filepath.Join(layer, "*", "*"))
	require.NoError(t, err)
	var elves int
	for _, path := range files {
		if filepath.Base(filepath.Dir(path)) == "licenses" {
			continue
		}
		f, err := elf.Open(path)
		require.NoError(t, err, "every file in bin/ and lib/ is an ELF file")
		elves++
		needed, err := f.ImportedLibraries()
		require.NoError(t, err)
		for _, name := range needed {
			require.FileExists(t, filepath.Join(lib, name), "%s needs %s", path, name)
		}
		if filepath.Dir(path) == lib {
			for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
				paths, err := f.DynString(tag)
				require.NoError(t, err)
				require.Empty(t, paths, "%s %v", path, tag)
			}
		}
		require.NoError(t, f.Close())
	}
	require.Greater(t, elves, len(progs)+1, "a loader, libc and the programs at least")
	require.FileExists(t, filepath.Join(layer, "licenses", "packages.txt"))
}

// listedPath matches the resolved path in a line of `ld.so --list`:
// "libc.so.6 => /x/lib/libc.so.6 (0x...)" or "/x/lib/ld-linux-x86-64.so.2 (0x...)".
var listedPath = regexp.MustCompile(`^\s*(?:(\S+) => )?(\S+) \(0x[0-9a-f]+\)$`)

// requireResolvesInside asks the layer's own loader, as ldd does, where each
// library of a program comes from.
func requireResolvesInside(t *testing.T, layer, prog string, env []string) {
	t.Helper()
	cmd := exec.Command(loaderOf(t, layer), "--list", filepath.Join(layer, "bin", prog))
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s --list %s: %s", loaderOf(t, layer), prog, out)
	var libs int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		require.NotContains(t, line, "not found", "%s, env %q", prog, env)
		m := listedPath.FindStringSubmatch(line)
		require.NotNil(t, m, "unexpected line %q", line)
		if strings.HasPrefix(m[2], "linux-vdso") {
			continue // provided by the kernel
		}
		require.True(t, strings.HasPrefix(m[2], layer+"/lib/"), "%s loads %s from the host (env %q)", prog, line, env)
		libs++
	}
	require.Greater(t, libs, 1, "%s: %s", prog, out)
}

// requireMapsOnlyLayer starts ffmpeg reading raw audio from a pipe, reads its
// memory map once it has printed its banner (the loader has mapped every
// library by then), and requires every mapped file to be in the layer.
func requireMapsOnlyLayer(t *testing.T, layer string, env []string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(layer, "bin", "ffmpeg"),
		"-f", "s16le", "-ar", "8000", "-ac", "1", "-i", "pipe:0", "-f", "null", "-")
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stderrPipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	stderr := bufio.NewReader(stderrPipe)
	banner, err := stderr.ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, banner, "ffmpeg version")

	maps, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/maps")
	require.NoError(t, err)
	var mapped int
	for _, line := range strings.Split(string(maps), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 6 || !strings.HasPrefix(fields[5], "/") {
			continue // anonymous, [heap], [stack], [vdso]
		}
		require.True(t, strings.HasPrefix(fields[5], layer+"/"), "ffmpeg maps %s from the host (env %q)", fields[5], env)
		mapped++
	}
	require.Greater(t, mapped, 100, "ffmpeg, its loader and its libraries")

	// One second of silence, then the end of the input: ffmpeg exits cleanly.
	_, err = stdin.Write(make([]byte, 16000))
	require.NoError(t, err)
	require.NoError(t, stdin.Close())
	rest, err := io.ReadAll(stderr)
	require.NoError(t, err)
	require.NoError(t, cmd.Wait(), "ffmpeg: %s", rest)
}

// loaderOf is the layer's dynamic loader: the one file in lib/ named ld-*.
func loaderOf(t *testing.T, layer string) string {
	t.Helper()
	loaders, err := filepath.Glob(filepath.Join(layer, "lib", "ld-*.so*"))
	require.NoError(t, err)
	require.Len(t, loaders, 1, "one loader in lib/")
	return loaders[0]
}

func interpreterOf(t *testing.T, f *elf.File) string {
	t.Helper()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			_, err := p.ReadAt(b, 0)
			require.NoError(t, err)
			return string(bytes.TrimRight(b, "\x00"))
		}
	}
	t.Fatal("no PT_INTERP: not a dynamically linked program")
	return ""
}

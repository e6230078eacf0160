package lambda

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/invoke"
)

func TestInvokeEchoesWithLambdaEnvironment(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{Region: "eu-west-1"}, FunctionSpec{
		Name: "EchoFunction", Timeout: 2500 * time.Millisecond, MemoryMB: 256,
		Env: map[string]string{"STAGE": "development", "CUSTOM": "a=b c"},
	})
	ctx := t.Context()

	res, err := b.call(ctx, "EchoFunction", echo(map[string]any{"n": 1, "s": "héllo"}))
	require.NoError(t, err)
	require.Empty(t, res.FunctionError)
	require.JSONEq(t, `{"n":1,"s":"héllo"}`, string(res.Payload))
	require.Positive(t, res.Duration)

	res, err = b.call(ctx, "EchoFunction", map[string]any{"action": "environ"})
	require.NoError(t, err)
	var environ []string
	require.NoError(t, json.Unmarshal(res.Payload, &environ))
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	require.Equal(t, "EchoFunction", env["AWS_LAMBDA_FUNCTION_NAME"])
	require.Equal(t, "256", env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
	require.NotContains(t, env, "AWS_LAMBDA_FUNCTION_TIMEOUT", "Lambda sets no such variable; the budget is the invocation's deadline")
	require.Equal(t, "$LATEST", env["AWS_LAMBDA_FUNCTION_VERSION"])
	require.Equal(t, "eu-west-1", env["AWS_REGION"])
	require.Equal(t, "eu-west-1", env["AWS_DEFAULT_REGION"])
	require.Equal(t, "/aws/lambda/EchoFunction", env["AWS_LAMBDA_LOG_GROUP_NAME"])
	require.Regexp(t, `^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$`, env["AWS_LAMBDA_LOG_STREAM_NAME"])
	require.Equal(t, "development", env["STAGE"])
	require.Equal(t, "a=b c", env["CUSTOM"])
	require.NotEmpty(t, env["PATH"])
	require.NotEmpty(t, env["HOME"])
	require.NotEmpty(t, env["AWS_LAMBDA_RUNTIME_API"], "set by RIE")

	// Exactly what Lambda gives a function (its documented runtime
	// variables), the spec's own variables, and the base a process needs.
	lambdaSet := map[string]bool{"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
		"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
		"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true, "AWS_LAMBDA_LOG_GROUP_NAME": true,
		"AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
		"AWS_LAMBDA_RUNTIME_API": true, "LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
		"STAGE": true, "CUSTOM": true, "PATH": true, "HOME": true, "LANG": true, "TZ": true}
	for k := range env {
		require.True(t, lambdaSet[k], "the function got %s, which Lambda does not set", k)
	}

	// Nothing of the test process's own environment leaks in.
	ours := map[string]bool{"PATH": true, "HOME": true, "LANG": true, "TZ": true}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if ours[k] || strings.HasPrefix(k, "AWS_") || v == "" {
			continue
		}
		require.NotContains(t, env, k, "the host's %s reached the function", k)
	}

	s := b.stats(t, "EchoFunction")
	require.Equal(t, 2, s.Invocations)
	require.Equal(t, 1, s.ColdStarts)
	require.Equal(t, 1, s.Environments)
	require.Equal(t, 0, s.Busy)
	require.Equal(t, 0, s.Errors)
}

func TestConcurrentInvokesGrowThePool(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{}, FunctionSpec{Name: "Fn", Timeout: 30 * time.Second})
	ctx := t.Context()

	run := func(n int) {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				res, err := b.call(ctx, "Fn", map[string]any{"action": "sleep", "ms": 300})
				if err == nil && res.FunctionError != "" {
					err = fmt.Errorf("function error %s: %s", res.FunctionError, res.Payload)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "invoke %d", i)
		}
	}
	run(20)
	s := b.stats(t, "Fn")
	require.Greater(t, s.Environments, 1)
	require.LessOrEqual(t, s.Environments, 20)
	require.Equal(t, s.Environments, s.Started, "no environment was replaced")
	require.Equal(t, 20, s.Invocations)
	require.Equal(t, 0, s.Errors)
	require.Equal(t, 0, s.Crashes)
	require.Equal(t, 0, s.Busy)

	// The second wave reuses the environments, starting at most the ones that
	// the first did not need.
	started := s.Started
	run(20)
	s = b.stats(t, "Fn")
	require.Equal(t, 40, s.Invocations)
	require.Equal(t, 0, s.Errors)
	require.LessOrEqual(t, s.Started, 20)
	require.GreaterOrEqual(t, s.Started, started)
}

func TestFunctionErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{}, FunctionSpec{Name: "Fn", Timeout: 10 * time.Second})
	ctx := t.Context()
	b.requireEcho(t, "Fn")

	for _, tc := range []struct {
		name          string
		req           map[string]any
		functionError string
		message       string
		replaced      bool
	}{
		{"returned error", map[string]any{"action": "error", "msg": "boom"}, "customError", "boom", false},
		{"errors.New", map[string]any{"action": "plainerror", "msg": "plain boom"}, "errorString", "plain boom", false},
		{"panic", map[string]any{"action": "panic", "msg": "aaah"}, "string", "aaah", true},
		{"unknown action", map[string]any{"action": "nope"}, "errorString", `unknown action "nope"`, false},
	} {
		before := b.stats(t, "Fn")
		res, err := b.call(ctx, "Fn", tc.req)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.functionError, res.FunctionError, tc.name)
		var doc struct {
			ErrorMessage string `json:"errorMessage"`
			ErrorType    string `json:"errorType"`
		}
		require.NoError(t, json.Unmarshal(res.Payload, &doc), tc.name)
		require.Equal(t, tc.message, doc.ErrorMessage, tc.name)
		require.Equal(t, tc.functionError, doc.ErrorType, tc.name)

		b.requireEcho(t, "Fn")
		after := b.stats(t, "Fn")
		require.Equal(t, before.Errors+1, after.Errors, tc.name)
		if tc.replaced {
			require.Equal(t, before.Started+1, after.Started, "%s: the runtime exits after a panic", tc.name)
		} else {
			require.Equal(t, before.Started, after.Started, "%s: the environment is kept", tc.name)
		}
	}

	// Answers that merely look like errors are answers.
	for _, req := range []map[string]any{
		{"action": "errorish"},
		echo(map[string]any{"errorMessage": "x", "errorType": "y", "status": 500}),
		echo("Task timed out after 1.00 seconds"),
	} {
		res, err := b.call(ctx, "Fn", req)
		require.NoError(t, err)
		require.Empty(t, res.FunctionError, "%s", res.Payload)
	}
}

func TestTimeoutReplacesTheEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{
		// RIE answers "Task timed out after 1.00 seconds" itself.
		{"by aws-lambda-rie", time.Second},
		// RIE's timeout is 1 s (whole seconds); the Manager gives up at 300 ms + grace.
		{"by the manager", 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Options{}, FunctionSpec{Name: "Slow", Timeout: tc.timeout})
			ctx := t.Context()

			start := time.Now()
			res, err := b.call(ctx, "Slow", map[string]any{"action": "spin", "ms": 5000})
			elapsed := time.Since(start)
			require.ErrorIs(t, err, invoke.ErrTimeout)
			require.Less(t, elapsed, tc.timeout+time.Second+timeoutGrace)
			require.GreaterOrEqual(t, elapsed, tc.timeout)
			require.GreaterOrEqual(t, res.Duration, tc.timeout)

			b.requireEcho(t, "Slow")
			s := b.stats(t, "Slow")
			require.Equal(t, 1, s.Timeouts)
			require.Equal(t, 1, s.Errors)
			require.Equal(t, 2, s.ColdStarts, "the next invoke gets a fresh environment")
			require.Equal(t, 2, s.Started)
			require.Equal(t, 1, s.Environments)
		})
	}
}

func TestCrashReplacesTheEnvironment(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{}, FunctionSpec{Name: "Fn", Timeout: 10 * time.Second})
	ctx := t.Context()

	for i, tc := range []struct {
		req  map[string]any
		want string
	}{
		{map[string]any{"action": "exit", "code": 3}, "exit status 3"},
		{map[string]any{"action": "exit", "code": 0}, "Runtime exited without providing a reason"},
		{map[string]any{"action": "kill"}, "signal: killed"},
	} {
		res, err := b.call(ctx, "Fn", tc.req)
		require.ErrorIs(t, err, invoke.ErrCrashed)
		require.ErrorContains(t, err, tc.want)
		require.Empty(t, res.FunctionError)
		require.Contains(t, string(res.Payload), "Runtime.ExitError")

		b.requireEcho(t, "Fn")
		s := b.stats(t, "Fn")
		require.Equal(t, i+1, s.Crashes)
		require.Equal(t, i+2, s.Started, "each crash replaces the environment")
	}
}

func TestRIEDyingMidInvokeIsACrash(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{}, FunctionSpec{Name: "Fn", Timeout: 10 * time.Second})
	ctx := t.Context()
	b.requireEcho(t, "Fn")

	env := onlyEnvironment(t, b.m, "Fn")
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = syscall.Kill(env.proc.pid, syscall.SIGKILL) // RIE only, not its function
	}()
	_, err := b.call(ctx, "Fn", map[string]any{"action": "sleep", "ms": 1000})
	require.ErrorIs(t, err, invoke.ErrCrashed)
	require.ErrorContains(t, err, "aws-lambda-rie")
	b.requireEcho(t, "Fn")
	require.Equal(t, 2, b.stats(t, "Fn").Started)
}

func TestInitFailureNamesTheCause(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{}, FunctionSpec{Name: "HealthFunction", Binary: binary(t, "health")})

	_, err := b.call(t.Context(), "HealthFunction", map[string]any{})
	require.ErrorIs(t, err, invoke.ErrCrashed)
	require.ErrorContains(t, err, "STAGE is required")
}

func TestHealthFunctionAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{}, FunctionSpec{Name: "HealthFunction", Binary: binary(t, "health"), Env: healthEnv})
	ev, err := os.ReadFile(filepath.Join(repoRoot(t), "functions", "health", "event.json"))
	require.NoError(t, err)

	res, err := b.m.Invoke(t.Context(), "HealthFunction", ev)
	require.NoError(t, err)
	require.Empty(t, res.FunctionError)
	var answer struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	require.NoError(t, json.Unmarshal(res.Payload, &answer))
	require.Equal(t, 200, answer.StatusCode)
	require.Contains(t, answer.Body, `"status":"ok"`)
}

func TestCallerGivingUpReplacesTheEnvironment(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{}, FunctionSpec{Name: "Fn", Timeout: 10 * time.Second})

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.call(ctx, "Fn", map[string]any{"action": "sleep", "ms": 5000})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second)

	b.requireEcho(t, "Fn")
	s := b.stats(t, "Fn")
	require.Equal(t, 2, s.Started)
	require.Equal(t, 1, s.Environments)
	require.Equal(t, 0, s.Errors, "the function did not fail")
}

func TestThrottlesAtTheLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{}, FunctionSpec{Name: "One", MaxConcurrency: 1, Timeout: 10 * time.Second})
	ctx := t.Context()

	done := make(chan error, 1)
	go func() {
		_, err := b.call(ctx, "One", map[string]any{"action": "sleep", "ms": 1000})
		done <- err
	}()
	require.Eventually(t, func() bool { return b.stats(t, "One").Busy == 1 }, 5*time.Second, time.Millisecond)

	start := time.Now()
	_, err := b.call(ctx, "One", echo(1))
	require.ErrorIs(t, err, invoke.ErrThrottled)
	require.Less(t, time.Since(start), 100*time.Millisecond, "throttling is immediate")

	require.NoError(t, <-done)
	b.requireEcho(t, "One")
	s := b.stats(t, "One")
	require.Equal(t, 1, s.Throttles)
	require.Equal(t, 2, s.Invocations)
	require.Equal(t, 1, s.Started)
}

func TestLogLinesArePrefixedAndWhole(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{}, FunctionSpec{Name: "Alpha", Timeout: 10 * time.Second}, FunctionSpec{Name: "Beta", Timeout: 10 * time.Second})
	ctx := t.Context()

	// Long lines from two functions at once (and both streams of each).
	line := func(function string, i int) string {
		return fmt.Sprintf("%s-%03d-%s", function, i, strings.Repeat(string(rune('a'+i%26)), 3000+i))
	}
	var wg sync.WaitGroup
	for _, function := range []string{"Alpha", "Beta"} {
		for w := range 3 {
			wg.Go(func() {
				var lines []string
				for i := w * 40; i < (w+1)*40; i++ {
					lines = append(lines, line(function, i))
				}
				_, err := b.call(ctx, function, map[string]any{"action": "print", "lines": lines})
				assert.NoError(t, err)
			})
		}
	}
	wg.Wait()
	require.NoError(t, b.m.Close(ctx)) // flushes the output

	seen := map[string]bool{}
	pattern := regexp.MustCompile(`^(Alpha|Beta) \| (.*)$`)
	for _, l := range b.log.lines() {
		m := pattern.FindStringSubmatch(l)
		require.NotNil(t, m, "line without a prefix: %.200q", l)
		function, text := m[1], m[2]
		switch {
		case strings.HasPrefix(text, function+"-"):
			var i int
			_, err := fmt.Sscanf(text, function+"-%03d-", &i)
			require.NoError(t, err)
			require.Equal(t, line(function, i), text, "a line was cut or mixed")
			seen[text] = true
		case strings.HasPrefix(text, "START RequestId: "), strings.HasPrefix(text, "END RequestId: "):
		case strings.HasPrefix(text, "REPORT RequestId: "):
			require.Contains(t, text, "Duration: ")
			seen["REPORT "+function] = true
		default:
			require.NotContains(t, text, "[INFO]", "RIE's INFO lines are dropped")
		}
	}
	require.Len(t, seen, 2*120+2, "every printed line and a REPORT line per function")
}

func TestCloseLeavesNoProcess(t *testing.T) {
	t.Parallel()
	// A private copy of the binary, so that this test can tell its own
	// function processes from those of the tests running alongside.
	bin := filepath.Join(t.TempDir(), "bootstrap")
	src, err := os.ReadFile(binary(t, "fn"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, src, 0o755))

	b := setup(t, Options{}, FunctionSpec{Name: "Fn", Binary: bin, Timeout: 30 * time.Second})
	ctx := t.Context()

	// Three environments that have run their function, and one mid-invoke.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			_, err := b.call(ctx, "Fn", map[string]any{"action": "sleep", "ms": 300})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	busy := make(chan error, 1)
	go func() {
		_, err := b.call(ctx, "Fn", map[string]any{"action": "sleep", "ms": 20000})
		busy <- err
	}()
	require.Eventually(t, func() bool { return b.stats(t, "Fn").Busy == 1 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(processesOf(bin)) >= 3 }, 5*time.Second, 5*time.Millisecond)

	var riePids []int
	var addrs []string
	for _, e := range environments(b.m, "Fn") {
		riePids = append(riePids, e.proc.pid)
		addrs = append(addrs, e.proc.addrs...)
	}
	require.GreaterOrEqual(t, len(riePids), 3)

	require.NoError(t, b.m.Close(ctx))
	require.NoError(t, b.m.Close(ctx), "Close is idempotent")
	require.ErrorIs(t, <-busy, ErrClosed)

	for _, pid := range riePids {
		require.False(t, pidAlive(pid), "aws-lambda-rie %d is still running", pid)
	}
	require.Empty(t, processesOf(bin), "function processes are still running")
	for _, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		require.NoError(t, err, "port %s is still taken", addr)
		require.NoError(t, l.Close())
	}

	_, err = b.call(ctx, "Fn", echo(1))
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, b.m.Warm(ctx, "Fn"), ErrClosed)
	require.Equal(t, 0, b.stats(t, "Fn").Environments)
}

func TestWarmStartsAnEnvironmentAhead(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{}, FunctionSpec{Name: "Fn"})
	ctx := t.Context()

	require.NoError(t, b.m.Warm(ctx, "Fn"))
	require.NoError(t, b.m.Warm(ctx, "Fn"), "an idle environment is enough")
	s := b.stats(t, "Fn")
	require.Equal(t, 1, s.Environments)
	require.Equal(t, 1, s.Started)
	require.Equal(t, 0, s.Busy)

	b.requireEcho(t, "Fn")
	s = b.stats(t, "Fn")
	require.Equal(t, 1, s.Started, "the invoke used the warm environment")
	require.Equal(t, 1, s.ColdStarts, "RIE still runs the function's init in the first invoke")
}

func TestMaxIdleStopsIdleEnvironments(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{MaxIdle: 200 * time.Millisecond}, FunctionSpec{Name: "Fn"})

	b.requireEcho(t, "Fn")
	pid := onlyEnvironment(t, b.m, "Fn").proc.pid
	require.Eventually(t, func() bool { return b.stats(t, "Fn").Environments == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return !pidAlive(pid) }, 5*time.Second, 10*time.Millisecond)

	b.requireEcho(t, "Fn")
	require.Equal(t, 2, b.stats(t, "Fn").Started)
	require.Contains(t, b.log.String(), "Fn | [local lambda] environment 1 idle for 200ms: stopped")
}

func TestAddAndInvokeErrors(t *testing.T) {
	t.Parallel()
	fn := binary(t, "fn")

	m := NewManager(Options{RIE: "/nonexistent/aws-lambda-rie"})
	err := m.Add(FunctionSpec{Name: "Fn", Binary: fn})
	require.ErrorContains(t, err, "make tools")

	b := setup(t, Options{}, FunctionSpec{Name: "Fn"})
	require.Error(t, b.m.Add(FunctionSpec{Name: "Fn", Binary: fn}), "duplicate name")
	require.Error(t, b.m.Add(FunctionSpec{Name: "Rel", Binary: "bootstrap"}), "relative binary")
	require.Error(t, b.m.Add(FunctionSpec{Name: "Missing", Binary: "/nonexistent/bootstrap"}))
	require.Error(t, b.m.Add(FunctionSpec{Binary: fn}), "no name")

	_, err = b.m.Invoke(t.Context(), "Nope", nil)
	require.ErrorIs(t, err, invoke.ErrUnknownFunction)
	require.ErrorIs(t, b.m.Warm(t.Context(), "Nope"), invoke.ErrUnknownFunction)
	require.Equal(t, []string{"Fn"}, statNames(b.m))
}

// environments returns the environments of function that have a process.
func environments(m *Manager, function string) []*environment {
	p, err := m.pool(function)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var envs []*environment
	for e := range p.all {
		e.mu.Lock()
		if e.proc != nil {
			envs = append(envs, e)
		}
		e.mu.Unlock()
	}
	return envs
}

func onlyEnvironment(t *testing.T, m *Manager, function string) *environment {
	t.Helper()
	envs := environments(m, function)
	require.Len(t, envs, 1)
	return envs[0]
}

func statNames(m *Manager) []string {
	var names []string
	for _, s := range m.Stats() {
		names = append(names, s.Name)
	}
	return names
}

// processesOf returns the live processes running the executable at path.
func processesOf(path string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && exe == path && pidAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

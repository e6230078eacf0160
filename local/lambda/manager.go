package lambda

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redub/redub/local/invoke"
)

// ErrClosed is returned by a Manager's methods after Close.
var ErrClosed = errors.New("lambda manager closed")

// Defaults for the zero values of Options and FunctionSpec.
const (
	DefaultConcurrency  = 50              // Options.DefaultConcurrency
	DefaultTimeout      = 3 * time.Second // FunctionSpec.Timeout, as in Lambda
	DefaultMemoryMB     = 128             // FunctionSpec.MemoryMB, as in Lambda
	DefaultRegion       = "us-east-1"     // Options.Region
	DefaultStartTimeout = 10 * time.Second
)

// Options configure a Manager.
type Options struct {
	RIE string // path of the aws-lambda-rie binary (`make tools` puts it in .tools/)
	// Log gets every line the functions' processes write, each behind its
	// function's prefix; nil discards them.
	Log io.Writer
	// Prefix returns the text put before each line of a function, e.g. to
	// colour or align it; nil means "<function> | ".
	Prefix func(function string) string
	Region string // AWS_REGION and AWS_DEFAULT_REGION of the functions; empty means DefaultRegion
	// DefaultConcurrency is the pool limit of functions whose spec sets none;
	// zero means DefaultConcurrency.
	DefaultConcurrency int
	// MaxIdle stops an environment that has been idle this long; zero keeps
	// idle environments until Close.
	MaxIdle time.Duration
	// StartTimeout bounds the start of one RIE process (it usually listens
	// within 30 ms); zero means DefaultStartTimeout.
	StartTimeout time.Duration
}

// FunctionSpec is one function of the template.
type FunctionSpec struct {
	Name   string // template logical id, e.g. "HealthFunction"
	Binary string // absolute path of the built bootstrap
	// Env is the function's environment (the template's variables and
	// whatever the local stack adds). The process gets nothing else of the
	// caller's environment, so a variable missing here is missing locally as
	// in Lambda. Env may override PATH, HOME, LANG, TZ and LAMBDA_TASK_ROOT,
	// but not the variables Lambda reserves (AWS_LAMBDA_FUNCTION_NAME,
	// AWS_REGION, ...), which come from the spec and the Options.
	Env            map[string]string
	Timeout        time.Duration // zero means DefaultTimeout
	MemoryMB       int           // zero means DefaultMemoryMB
	MaxConcurrency int           // pool limit; zero means Options.DefaultConcurrency
	Dir            string        // working directory of the process; empty means the binary's directory
}

// PoolStats counts one function's environments and invocations.
type PoolStats struct {
	Name         string
	Environments int // running now (starting, idle or busy)
	Busy         int // running an invoke now (including those still starting for one)
	Started      int // environments started since Add
	Invocations  int // invokes handed to an environment (throttled ones are not)
	ColdStarts   int // invokes that were the first of their environment, so ran the function's init
	// Errors counts invokes that failed in the function: function errors,
	// timeouts and crashes, as CloudWatch's Errors metric does.
	Errors    int
	Timeouts  int
	Crashes   int
	Throttles int
}

// Manager runs the pools of a set of functions. Its methods are safe for
// concurrent use.
type Manager struct {
	opts  Options
	logMu sync.Mutex // serialises writes to opts.Log, one whole line each

	mu     sync.Mutex
	pools  map[string]*pool
	closed bool
}

// NewManager returns a Manager without functions; Add registers them.
func NewManager(opts Options) *Manager {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Prefix == nil {
		opts.Prefix = func(function string) string { return function + " | " }
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.DefaultConcurrency <= 0 {
		opts.DefaultConcurrency = DefaultConcurrency
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	return &Manager{opts: opts, pools: map[string]*pool{}}
}

// Add registers a function. No process starts until the first Invoke or
// Warm. It fails when the spec is invalid, when the name is taken, when
// aws-lambda-rie or the binary is missing, and with ErrClosed after Close.
func (m *Manager) Add(spec FunctionSpec) error {
	spec, err := m.normalize(spec)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("add %s: %w", spec.Name, ErrClosed)
	}
	if _, ok := m.pools[spec.Name]; ok {
		return fmt.Errorf("add %s: function already added", spec.Name)
	}
	m.pools[spec.Name] = newPool(m, spec)
	return nil
}

func (m *Manager) normalize(spec FunctionSpec) (FunctionSpec, error) {
	if spec.Name == "" {
		return spec, errors.New("add function: empty name")
	}
	if err := checkExecutable(m.opts.RIE); err != nil {
		return spec, fmt.Errorf("add %s: aws-lambda-rie: %w (run `make tools` to install it)", spec.Name, err)
	}
	if !filepath.IsAbs(spec.Binary) {
		return spec, fmt.Errorf("add %s: binary %q is not an absolute path", spec.Name, spec.Binary)
	}
	if err := checkExecutable(spec.Binary); err != nil {
		return spec, fmt.Errorf("add %s: binary: %w", spec.Name, err)
	}
	if spec.Timeout < 0 || spec.MemoryMB < 0 || spec.MaxConcurrency < 0 {
		return spec, fmt.Errorf("add %s: negative timeout, memory or concurrency", spec.Name)
	}
	if spec.Timeout == 0 {
		spec.Timeout = DefaultTimeout
	}
	if spec.MemoryMB == 0 {
		spec.MemoryMB = DefaultMemoryMB
	}
	if spec.MaxConcurrency == 0 {
		spec.MaxConcurrency = m.opts.DefaultConcurrency
	}
	if spec.Dir == "" {
		spec.Dir = filepath.Dir(spec.Binary)
	}
	return spec, nil
}

func checkExecutable(path string) error {
	if path == "" {
		return errors.New("no path given")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err // the *PathError names the file
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// Invoke runs one invocation of function with payload, as Lambda's Invoke
// API does (RequestResponse). A handler's error is not an error here: it comes
// back in Result.FunctionError, with the error document as Payload.
//
// Errors: invoke.ErrUnknownFunction for a name that was not added;
// invoke.ErrThrottled when every environment of the function is busy and the
// pool is at its limit; invoke.ErrTimeout when the function runs past its
// Timeout and invoke.ErrCrashed when its process exits before answering (both
// replace the environment, and Result.Duration and any answer RIE gave are
// still set); ctx.Err() when ctx ends first (the environment is replaced, as
// the function may still be running); ErrClosed after Close; and an error
// when an environment cannot be started.
func (m *Manager) Invoke(ctx context.Context, function string, payload []byte) (invoke.Result, error) {
	p, err := m.pool(function)
	if err != nil {
		return invoke.Result{}, fmt.Errorf("invoke %s: %w", function, err)
	}
	res, err := p.invoke(ctx, payload)
	if err != nil {
		return res, fmt.Errorf("invoke %s: %w", function, err)
	}
	return res, nil
}

var _ invoke.Invoker = (*Manager)(nil)

// Warm makes sure function has an idle environment, starting one when it has
// none (and its pool is not full), so that the first Invoke does not wait for
// a process to start. RIE runs the function's init in that first invoke all
// the same. It fails like Invoke for unknown functions, after Close and when
// the environment does not start.
func (m *Manager) Warm(ctx context.Context, function string) error {
	p, err := m.pool(function)
	if err != nil {
		return fmt.Errorf("warm %s: %w", function, err)
	}
	if err := p.warm(ctx); err != nil {
		return fmt.Errorf("warm %s: %w", function, err)
	}
	return nil
}

func (m *Manager) pool(function string) (*pool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	p, ok := m.pools[function]
	if !ok {
		return nil, invoke.ErrUnknownFunction
	}
	return p, nil
}

// FunctionPIDs returns the process ids of a function's own processes (the
// bootstrap under each running environment's aws-lambda-rie; an environment
// whose function has not started yet has none). Fault drills use them to
// kill what this Manager started and nothing else on the machine. An
// unknown function is invoke.ErrUnknownFunction.
func (m *Manager) FunctionPIDs(function string) ([]int, error) {
	p, err := m.pool(function)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	envs := slices.Collect(maps.Keys(p.all))
	p.mu.Unlock()
	var pids []int
	for _, e := range envs {
		e.mu.Lock()
		if e.proc != nil && !e.stopped {
			pids = append(pids, childrenOf(e.proc.pid)...)
		}
		e.mu.Unlock()
	}
	slices.Sort(pids)
	return pids, nil
}

// Stats returns the counters of every function, ordered by name.
func (m *Manager) Stats() []PoolStats {
	m.mu.Lock()
	pools := make([]*pool, 0, len(m.pools))
	for _, p := range m.pools {
		pools = append(pools, p)
	}
	m.mu.Unlock()
	stats := make([]PoolStats, 0, len(pools))
	for _, p := range pools {
		stats = append(stats, p.stats())
	}
	slices.SortFunc(stats, func(a, b PoolStats) int { return strings.Compare(a.Name, b.Name) })
	return stats
}

// Close stops every environment: it kills the processes (function and RIE,
// process group by process group), waits for them to exit and for their
// output to be written, which frees their ports. Invokes still running fail
// with ErrClosed. Close may be called more than once; it returns an error only
// when ctx ends before every process is gone.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	pools := make([]*pool, 0, len(m.pools))
	for _, p := range m.pools {
		pools = append(pools, p)
	}
	m.mu.Unlock()

	var envs []*environment
	for _, p := range pools {
		envs = append(envs, p.close()...)
	}
	var wg sync.WaitGroup
	for _, e := range envs {
		wg.Go(e.stop)
	}
	wg.Wait()
	for _, e := range envs {
		if err := e.wait(ctx); err != nil {
			return fmt.Errorf("close: %s environment still running: %w", e.pool.spec.Name, err)
		}
	}
	return nil
}

// writeLine writes one line of a function's output to the log, behind the
// prefix; a whole line per Write call, so concurrent functions never mix.
func (m *Manager) writeLine(prefix string, line []byte) {
	buf := make([]byte, 0, len(prefix)+len(line)+1)
	buf = append(buf, prefix...)
	buf = append(buf, line...)
	buf = append(buf, '\n')
	m.logMu.Lock()
	defer m.logMu.Unlock()
	_, _ = m.opts.Log.Write(buf) // a log that fails must not fail the function
}

// Package lambda runs a template's functions locally as Lambda would: each
// function gets a pool of execution environments, and each environment is one
// aws-lambda-rie (Runtime Interface Emulator) process that runs the function's
// real bootstrap binary. A [Manager] implements invoke.Invoker
// (github.com/redub/redub/local/invoke).
//
// # Environments
//
// An RIE process serves one invoke at a time (a second, overlapping invoke
// crashes it), so an invoke takes an idle environment of its function, or
// starts a new one when none is idle, up to the function's concurrency limit.
// At the limit the invoke fails at once with invoke.ErrThrottled, as Lambda
// throttles. Idle environments are kept for the next invoke (and stopped after
// [Options.MaxIdle] when that is set).
//
// An environment is replaced (its processes are killed, and the next invoke
// starts a fresh one, a cold start) when the function times out, when its
// process exits mid-invoke, when the caller gives up on an invoke (its context
// ends), and after a panic, since the Go runtime exits after reporting one.
//
// Every RIE process runs in its own process group with a parent-death signal
// (on Linux). RIE starts the function in yet another process group of its own,
// so stopping an environment kills the function's group first, while RIE is
// still there to reap it, and then RIE's. [Manager.Close] stops them all.
//
// # What RIE does (measured with the version pinned in the Makefile)
//
//   - RIE starts the function lazily, on the first invoke: there is no separate
//     init call, so [Manager.Warm] starts the RIE process (the slow part, about
//     30 ms) and the function's own init still runs in the first invoke.
//   - RIE copies its whole environment into the function's, so the process
//     gets only the variables built here (see [FunctionSpec.Env]); RIE adds
//     AWS_LAMBDA_RUNTIME_API and empty AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
//     and AWS_SESSION_TOKEN when they are not set.
//   - A returned error: HTTP 200, body {"errorMessage","errorType"}, and no
//     X-Amz-Function-Error header (RIE drops the runtime's error headers), so
//     the body's shape is the only sign: a JSON object with errorMessage and
//     no fields but errorType, stackTrace, trace, requestId and cause is taken
//     for a function error. A handler that returns exactly such an object is
//     misread as failing; one with any other field is not.
//   - A panic: HTTP 502 with the error document (errorType is the panic value's
//     type, e.g. "string"), then the runtime exits.
//   - The process exits mid-invoke (os.Exit, a signal): HTTP 502 with
//     {"errorType":"Runtime.ExitError","errorMessage":"RequestId: ... Error:
//     Runtime exited with error: exit status 3"} ("signal: killed", or
//     "Runtime exited without providing a reason" for exit status 0).
//   - The process exits during init (e.g. a config error): HTTP 502 with an
//     empty body; the function's last output line then goes into the error.
//   - A timeout: after AWS_LAMBDA_FUNCTION_TIMEOUT whole seconds RIE kills the
//     function and answers HTTP 200 with the text "Task timed out after N.00
//     seconds", about 100 ms later. The Manager also enforces the exact
//     [FunctionSpec.Timeout] plus a grace of half a second itself (RIE's
//     timeout, and the deadline in the function's context, are whole seconds,
//     so a fraction of a second is enforced by the Manager alone).
//   - If RIE itself dies mid-invoke, the invoke fails with invoke.ErrCrashed; the
//     function it ran, orphaned, exits at its next call to the runtime API
//     (an idle one at once: its long poll for the next event breaks).
//   - After an exit or a timeout RIE would restart the function on the next
//     invoke ("INIT START(type: on-demand, phase: invoke)"); the Manager
//     replaces the environment instead, which costs the same cold start.
//   - Output: the function's stdout and stderr are RIE's stdout. RIE adds
//     START, END and REPORT lines (REPORT's "Init Duration" is not the real
//     init time, and its memory figures echo the configured size) and, at its
//     default level, a dozen "[INFO] (rapid)" lines per cold start; RIE runs
//     with --log-level warn, which keeps its warnings and errors only.
//   - Both listening addresses must be set: the defaults (0.0.0.0:8080 and
//     127.0.0.1:9001) clash between processes. A taken port makes RIE panic at
//     once; the Manager then retries with other ports.
//
// # Logs
//
// Every line a function's environments write (the function's output and RIE's
// START, END, REPORT, warning and error lines) goes to [Options.Log] as one
// whole line behind the function's prefix ("HealthFunction | " by default), so
// lines of concurrent functions never mix. Lines longer than 64 KiB are split.
package lambda

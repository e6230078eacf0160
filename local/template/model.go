package template

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Locals are the local stand-ins for what AWS would supply at deploy time.
// The zero value is usable: see the field comments for defaults.
type Locals struct {
	// Parameters override the template's parameters (e.g. {"Stage":
	// "development"}); template defaults fill the rest. A parameter with
	// neither is an error naming it, and so is an override for a parameter the
	// template does not declare.
	Parameters map[string]string
	// ParameterLookup, when set, is asked for a parameter that Parameters
	// does not set, before the template's Default (the local stack reads
	// AUTH_URL for AuthURL this way).
	ParameterLookup func(name string) (string, bool)
	Region          string // AWS::Region; default "us-east-1"
	AccountID       string // AWS::AccountId; default "000000000000"
	StackName       string // AWS::StackName; default "redub-local"
	// QueueURL returns the local URL of the queue with this name; the default
	// is http://127.0.0.1:9324/<AccountID>/<name>.
	QueueURL func(queueName string) string
}

func (l Locals) withDefaults() Locals {
	if l.Region == "" {
		l.Region = "us-east-1"
	}
	if l.AccountID == "" {
		l.AccountID = "000000000000"
	}
	if l.StackName == "" {
		l.StackName = "redub-local"
	}
	if l.QueueURL == nil {
		account := l.AccountID
		l.QueueURL = func(name string) string { return "http://127.0.0.1:9324/" + account + "/" + name }
	}
	return l
}

// partition is AWS::Partition for the region.
func (l Locals) partition() string {
	switch {
	case strings.HasPrefix(l.Region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(l.Region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// urlSuffix is AWS::URLSuffix for the region.
func (l Locals) urlSuffix() string {
	if strings.HasPrefix(l.Region, "cn-") {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

// Template is what the local stack runs, read from a SAM template.
type Template struct {
	Parameters map[string]string    // every parameter's value: override, else default
	Functions  map[string]*Function // by logical id
	Queues     map[string]*Queue    // by logical id
	Buckets    map[string]*Bucket   // by logical id
	Routes     []Route              // all HttpApi routes, sorted by path then method; "$default" last
}

// Function is one AWS::Serverless::Function with Globals applied.
type Function struct {
	LogicalID string // "HealthReadyFunction", also the function's local name
	// Dir is the function's folder relative to the template, as the Makefile
	// derives it: "functions/" + kebab-case of the logical id minus "Function".
	Dir          string
	BuildMethod  string // Metadata.BuildMethod, e.g. "makefile"; "" when unset
	Handler      string
	Runtime      string
	Architecture string        // "arm64" or "x86_64" (the default)
	Timeout      time.Duration // default 3s, as in SAM
	MemoryMB     int           // default 128
	// ReservedConcurrency is ReservedConcurrentExecutions; 0 when unset.
	// (ReservedConcurrentExecutions: 0, which disables a function in AWS, is
	// reported as ErrUnsupported rather than confused with unset.)
	ReservedConcurrency int
	// Env is Globals.Function.Environment.Variables merged with the
	// function's own (the function wins), intrinsics resolved. A variable set
	// to AWS::NoValue is left out.
	Env       map[string]string
	Routes    []Route     // its HttpApi events, sorted like Template.Routes
	SQS       []SQSSource // its SQS events, by event name
	Schedules []Schedule  // its Schedule events, by event name
	S3        []S3Source  // its S3 events, by event name
}

// Route is one HttpApi event: requests matching Method and Path go to Function.
type Route struct {
	Function string // logical id
	Method   string // upper case, or "ANY"
	Path     string // "/jobs/{id}", "/{proxy+}", or "$default" (the catch-all)
}

// DefaultRoute is the Path of the catch-all route, which SAM creates for an
// HttpApi event with neither Method nor Path.
const DefaultRoute = "$default"

// SQSSource is one SQS event: an event source mapping from Queue to Function.
type SQSSource struct {
	Function                string        // logical id
	Event                   string        // the event's name under Events
	Queue                   string        // queue logical id
	BatchSize               int           // default 10
	MaxBatchingWindow       time.Duration // MaximumBatchingWindowInSeconds; 0 when unset
	ReportBatchItemFailures bool          // FunctionResponseTypes has ReportBatchItemFailures
	MaxConcurrency          int           // ScalingConfig.MaximumConcurrency; 0 when unset
	Enabled                 bool          // default true
}

// Schedule is one Schedule event.
type Schedule struct {
	Name       string // "<LogicalId>.<EventName>"
	Function   string // logical id
	Expression string // "rate(1 minute)" or "cron(0 12 * * ? *)"
	Enabled    bool   // false when Enabled is false or State is DISABLED
	Input      string // the JSON to invoke with, or "" for the scheduled-event document
}

// Queue is one AWS::SQS::Queue.
type Queue struct {
	LogicalID string
	// Name is QueueName when written literally, else the logical id (with
	// ".fifo" added for a FIFO queue, as SQS requires).
	Name              string
	FIFO              bool
	VisibilityTimeout time.Duration // default 30s
	Retention         time.Duration // MessageRetentionPeriod; default 4 days
	MaxMessageSize    int           // MaximumMessageSize; default 262144
	DeadLetter        string        // logical id of the RedrivePolicy's target, "" if none
	MaxReceiveCount   int           // RedrivePolicy.maxReceiveCount; 0 without a dead-letter queue
}

// Bucket is one AWS::S3::Bucket.
type Bucket struct {
	LogicalID string
	Name      string // BucketName when written literally, else "redub-local-" + lower(logical id)
	// Notifications are the bucket's own QueueConfigurations, then its
	// LambdaConfigurations, in template order. S3 events declared on functions
	// (which the SAM transform adds to the bucket) are not repeated here: they
	// are in Function.S3, so the S3 relay routes the union of the two.
	Notifications []Notification
	// CORS is the bucket's CorsConfiguration.CorsRules, which the local stack
	// applies to its bucket so browsers can upload with presigned URLs.
	CORS []CORSRule
}

// CORSRule is one rule of a bucket's CorsConfiguration.
type CORSRule struct {
	AllowedOrigins, AllowedMethods, AllowedHeaders, ExposedHeaders []string
	MaxAge                                                         int // seconds; 0 when unset
}

// Notification is one S3 event notification of a bucket; exactly one of Queue
// and Function is set.
type Notification struct {
	Events   []string // as written, e.g. "s3:ObjectCreated:*"
	Prefix   string   // key filter; "" matches every key
	Suffix   string
	Queue    string // queue logical id
	Function string // function logical id
}

// S3Source is one S3 event on a function.
type S3Source struct {
	Function string // logical id
	Event    string // the event's name under Events
	Bucket   string // bucket logical id
	Events   []string
	Prefix   string
	Suffix   string
}

// Errors that Parse and Load wrap, each inside an [*Error] naming where.
var (
	ErrNoValue        = errors.New("parameter has no value")                                // no override and no Default
	ErrParameter      = errors.New("invalid parameter value")                               // not in AllowedValues, not matching AllowedPattern, or not declared
	ErrDangling       = errors.New("reference to nothing in the template")                  // Ref, GetAtt, ${} or DependsOn naming nothing
	ErrNotInTemplate  = errors.New("target is not in the template")                         // an event or notification naming a queue, bucket or function the template lacks
	ErrSchedule       = errors.New("invalid schedule expression")                           // not rate(N unit) or a valid 6-field cron()
	ErrUnsupported    = errors.New("not supported by the local stack")                      // an event type, intrinsic or attribute it cannot run or resolve
	ErrInvalid        = errors.New("invalid template")                                      // a value AWS would reject
	ErrNoFolder       = errors.New("function folder does not exist")                        // Load only
	ErrNoNextSchedule = errors.New("schedule never fires again within the cron year range") // Schedule.Next
)

// Error is one problem found in a template.
type Error struct {
	Where string // the resource, event or parameter, e.g. "HealthFunction.Events.Api", "parameter Stage"
	Err   error  // wraps one of the Err* sentinels
}

func (e *Error) Error() string { return e.Where + ": " + e.Err.Error() }

// Unwrap returns the underlying error, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// problems collects the errors of one Parse.
type problems []error

func (p *problems) add(where string, sentinel error, format string, args ...any) {
	*p = append(*p, &Error{Where: where, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)})
}

func (p *problems) addErr(where string, err error) {
	*p = append(*p, &Error{Where: where, Err: err})
}

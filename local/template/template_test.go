package template

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// richLocals are the local values the rich template is parsed with.
func richLocals() Locals {
	return Locals{
		Parameters: map[string]string{"Stage": "test"},
		Region:     "eu-west-1",
		AccountID:  "123456789012",
		QueueURL:   func(name string) string { return "http://sqs.test/" + name },
	}
}

func parseFile(t *testing.T, name string, locals Locals) *Template {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	tpl, err := Parse(data, locals)
	require.NoError(t, err)
	return tpl
}

// problems lists the *Error values inside a joined error.
func problemsIn(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(e error) {
		if p, ok := e.(*Error); ok {
			out = append(out, p)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

var sentinels = []error{ErrNoValue, ErrParameter, ErrDangling, ErrNotInTemplate, ErrSchedule, ErrUnsupported, ErrInvalid, ErrNoFolder}

// problem is what a test expects of one *Error: its sentinel and place.
type problem struct {
	err   error
	where string
}

// requireProblems asserts that err reports exactly the problems want.
func requireProblems(t *testing.T, err error, want ...problem) {
	t.Helper()
	require.Error(t, err)
	var got []problem
	for _, p := range problemsIn(err) {
		s := problem{where: p.Where}
		for _, sentinel := range sentinels {
			if errors.Is(p, sentinel) {
				s.err = sentinel
			}
		}
		got = append(got, s)
	}
	require.ElementsMatch(t, want, got, "reported:\n%v", err)
}

// requireProblem asserts that err reports a problem at where wrapping want.
func requireProblem(t *testing.T, err error, want error, where string) {
	t.Helper()
	require.Error(t, err)
	for _, p := range problemsIn(err) {
		if p.Where == where && errors.Is(p, want) {
			return
		}
	}
	require.Failf(t, "problem not reported", "want %v at %q in:\n%v", want, where, err)
}

func TestLoadRepoTemplate(t *testing.T) {
	t.Parallel()
	queueURL := func(name string) string { return "http://127.0.0.1:9324/000000000000/" + name }
	tpl, err := Load("../../template.yaml", Locals{
		Parameters: map[string]string{"Stage": "development"},
		QueueURL:   queueURL,
	})
	require.NoError(t, err)

	env := map[string]string{
		"STAGE":            "development",
		"AUTH_URL":         "http://localhost:3000",
		"LOG_LEVEL":        "info",
		"SECRETS_SSM_PATH": "/redub/development/",
		"STORAGE_BUCKET":   "redub-local-mediabucket",
		"STORAGE_REGION":   "us-east-1",
		"INGEST_QUEUE_URL": "http://127.0.0.1:9324/000000000000/IngestQueue",
	}
	health := Route{Function: "HealthFunction", Method: "GET", Path: "/health"}
	ready := Route{Function: "HealthReadyFunction", Method: "GET", Path: "/health/ready"}

	tests := []struct {
		name string
		got  func() any
		want any
	}{
		{"parameters", func() any { return tpl.Parameters }, map[string]string{"Stage": "development", "AuthURL": "http://localhost:3000", "LogLevel": "info", "AlertsEndpoint": "", "SecretsPath": "",
			"LogShipDestination": "", "LogShipUrl": "", "LogShipDataset": "", "LogShipUser": "", "TranscribeEngine": "auto",
			"MaxActiveJobsPerUser": "10", "MaxActiveJobsPerAsset": "3", "FairShareStepsPerUser": "2",
			"JobDurationP95AlarmSeconds": "1800", "MediaMaxSeconds": "14400",
			"OpenAIConcurrency": "4", "ElevenLabsConcurrency": "2", "LocalSpeechConcurrency": "2"}},
		{"health function", func() any { return withoutEnv(tpl.Functions["HealthFunction"]) }, &Function{
			LogicalID: "HealthFunction", Dir: "functions/health", BuildMethod: "makefile",
			Handler: "bootstrap", Runtime: "provided.al2023", Architecture: "arm64",
			Timeout: 3 * time.Second, MemoryMB: 128, Routes: []Route{health},
		}},
		{"health ready function", func() any { return withoutEnv(tpl.Functions["HealthReadyFunction"]) }, &Function{
			LogicalID: "HealthReadyFunction", Dir: "functions/health-ready", BuildMethod: "makefile",
			Handler: "bootstrap", Runtime: "provided.al2023", Architecture: "arm64",
			Timeout: 8 * time.Second, MemoryMB: 256, Routes: []Route{ready},
		}},
		{"template variables resolved", func() any { return subset(tpl.Functions["HealthFunction"].Env, env) }, env},
		{"one function per folder", func() any { return len(tpl.Functions) }, countFolders(t, "../../functions")},
		{"health routes", func() any { return []bool{slices.Contains(tpl.Routes, health), slices.Contains(tpl.Routes, ready)} }, []bool{true, true}},
		{"ingest queue", func() any { return tpl.Queues["IngestQueue"] }, &Queue{
			LogicalID: "IngestQueue", Name: "IngestQueue", VisibilityTimeout: 1800 * time.Second,
			Retention: 4 * 24 * time.Hour, MaxMessageSize: 262144,
			DeadLetter: "IngestDeadLetterQueue", MaxReceiveCount: 5,
		}},
		{"dead-letter queue", func() any { return tpl.Queues["IngestDeadLetterQueue"] }, &Queue{
			LogicalID: "IngestDeadLetterQueue", Name: "IngestDeadLetterQueue", VisibilityTimeout: 30 * time.Second,
			Retention: 14 * 24 * time.Hour, MaxMessageSize: 262144,
		}},
		{"media bucket", func() any { return tpl.Buckets["MediaBucket"] }, &Bucket{
			LogicalID: "MediaBucket", Name: "redub-local-mediabucket",
			Notifications: []Notification{{Events: []string{"s3:ObjectCreated:*"}, Prefix: "uploads/", Queue: "IngestQueue"}},
			CORS: []CORSRule{{AllowedOrigins: []string{"http://localhost:3000"}, AllowedMethods: []string{"PUT", "GET"},
				AllowedHeaders: []string{"Content-Type", "Content-Length"}, ExposedHeaders: []string{"ETag"}, MaxAge: 3000}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.got())
		})
	}
}

func withoutEnv(f *Function) *Function {
	c := *f
	c.Env = nil
	return &c
}

// subset returns the entries of got whose keys are in want.
func subset(got, want map[string]string) map[string]string {
	out := map[string]string{}
	for k := range want {
		if v, ok := got[k]; ok {
			out[k] = v
		}
	}
	return out
}

func countFolders(t *testing.T, dir string) int {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			n++
		}
	}
	return n
}

func TestParseRich(t *testing.T) {
	t.Parallel()
	tpl := parseFile(t, "rich.yaml", richLocals())
	globalsEnv := map[string]string{"STAGE": "test", "REGION": "eu-west-1", "SHARED": "from-globals", "LOG_LEVEL": "debug"}

	tests := []struct {
		name string
		got  func() any
		want any
	}{
		{"parameters: overrides, defaults, numbers and lists as written", func() any { return tpl.Parameters },
			map[string]string{"Stage": "test", "Prefix": "media", "Sizes": "small,large", "WorkerMemory": "512"}},
		{"a resource whose condition is false is left out", func() any { return tpl.Functions["AuditFunction"] }, (*Function)(nil)},
		{"function env: Globals merged, function wins, intrinsics resolved", func() any { return tpl.Functions["ApiFunction"].Env }, map[string]string{
			"STAGE":            "test",
			"REGION":           "eu-west-1",
			"SHARED":           "from-function",
			"LOG_LEVEL":        "debug",
			"JOBS_QUEUE_URL":   "http://sqs.test/JobsQueue",
			"JOBS_QUEUE_ARN":   "arn:aws:sqs:eu-west-1:123456789012:JobsQueue",
			"JOBS_QUEUE_NAME":  "JobsQueue",
			"ORDERS_QUEUE_URL": "http://sqs.test/orders.fifo",
			"WORKER_NAME":      "WorkerFunction",
			"POLICY_NAME":      "JobsQueuePolicy",
			"WORKER_ARN":       "arn:aws:lambda:eu-west-1:123456789012:function:WorkerFunction",
			"UPLOADS_ARN":      "arn:aws:s3:::redub-local-uploadsbucket/*",
			"TOPIC_ARN":        "arn:aws:sns:eu-west-1:123456789012:test-events",
			"OBJECT":           "redub-local-uploadsbucket/large/media",
			"JOINED":           "a,test,3",
			"LITERAL":          "${NotAVariable}",
			"AUDIT":            "on",
			"STACK":            "redub-local",
			"SUFFIX":           "amazonaws.com",
			"SPLIT":            "first",
			"PORT":             "8080",
		}},
		{"api function settings from Globals", func() any {
			f := *tpl.Functions["ApiFunction"]
			f.Env, f.Routes = nil, nil
			return f
		}, Function{
			LogicalID: "ApiFunction", Dir: "functions/api", BuildMethod: "makefile", Handler: "bootstrap",
			Runtime: "provided.al2023", Architecture: "arm64", Timeout: 20 * time.Second, MemoryMB: 256,
		}},
		{"routes sorted, methods upper case", func() any { return tpl.Routes }, []Route{
			{Function: "ApiFunction", Method: "GET", Path: "/jobs"},
			{Function: "ApiFunction", Method: "POST", Path: "/jobs"},
			{Function: "ApiFunction", Method: "GET", Path: "/jobs/{id}"},
			{Function: "ApiFunction", Method: "GET", Path: "/jobs/{id}/files/{path+}"},
			{Function: "ApiFunction", Method: "ANY", Path: "/{proxy+}"},
		}},
		{"worker: SQS sources, number parameter, reserved concurrency", func() any { return tpl.Functions["WorkerFunction"] }, &Function{
			LogicalID: "WorkerFunction", Dir: "functions/worker", Handler: "bootstrap", Runtime: "provided.al2023",
			Architecture: "arm64", Timeout: time.Minute, MemoryMB: 512, ReservedConcurrency: 3, Env: globalsEnv,
			SQS: []SQSSource{
				{Function: "WorkerFunction", Event: "Jobs", Queue: "JobsQueue", BatchSize: 50, MaxBatchingWindow: 5 * time.Second,
					ReportBatchItemFailures: true, MaxConcurrency: 4, Enabled: true},
				{Function: "WorkerFunction", Event: "Orders", Queue: "OrdersQueue", BatchSize: 10, Enabled: false},
			},
		}},
		{"nightly: schedules, AWS::NoValue opts out of Globals Architectures", func() any { return tpl.Functions["NightlyFunction"] }, &Function{
			LogicalID: "NightlyFunction", Dir: "functions/nightly", Handler: "bootstrap", Runtime: "provided.al2023",
			Architecture: "x86_64", Timeout: 20 * time.Second, MemoryMB: 256, Env: globalsEnv,
			Schedules: []Schedule{
				{Name: "NightlyFunction.Every5", Function: "NightlyFunction", Expression: "rate(5 minutes)", Enabled: false},
				{Name: "NightlyFunction.Nightly", Function: "NightlyFunction", Expression: "cron(0 3 * * ? *)", Enabled: true, Input: `{"job":"nightly"}`},
			},
		}},
		{"thumbnail: S3 event", func() any { return tpl.Functions["ThumbnailFunction"].S3 }, []S3Source{
			{Function: "ThumbnailFunction", Event: "Images", Bucket: "UploadsBucket", Events: []string{"s3:ObjectCreated:*"}, Prefix: "images/", Suffix: ".jpg"},
		}},
		{"queues", func() any { return tpl.Queues }, map[string]*Queue{
			"JobsQueue": {LogicalID: "JobsQueue", Name: "JobsQueue", VisibilityTimeout: 6 * time.Minute, Retention: 96 * time.Hour,
				MaxMessageSize: 262144, DeadLetter: "JobsDeadLetterQueue", MaxReceiveCount: 3},
			"JobsDeadLetterQueue": {LogicalID: "JobsDeadLetterQueue", Name: "JobsDeadLetterQueue", VisibilityTimeout: 30 * time.Second,
				Retention: 14 * 24 * time.Hour, MaxMessageSize: 262144},
			"OrdersQueue": {LogicalID: "OrdersQueue", Name: "orders.fifo", FIFO: true, VisibilityTimeout: 2 * time.Minute,
				Retention: 96 * time.Hour, MaxMessageSize: 262144, DeadLetter: "OrdersDeadLetterQueue", MaxReceiveCount: 2},
			"OrdersDeadLetterQueue": {LogicalID: "OrdersDeadLetterQueue", Name: "OrdersDeadLetterQueue.fifo", FIFO: true,
				VisibilityTimeout: 30 * time.Second, Retention: 96 * time.Hour, MaxMessageSize: 262144},
		}},
		{"buckets: queue then lambda configurations; S3 events stay on their functions", func() any { return tpl.Buckets }, map[string]*Bucket{
			"UploadsBucket": {LogicalID: "UploadsBucket", Name: "redub-local-uploadsbucket", Notifications: []Notification{
				{Events: []string{"s3:ObjectCreated:*"}, Prefix: "incoming/", Queue: "JobsQueue"},
				{Events: []string{"s3:ObjectRemoved:*"}, Function: "CleanupFunction"},
			}},
			"ArchiveBucket": {LogicalID: "ArchiveBucket", Name: "redub-test-archive"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.got())
		})
	}
}

func TestParseRichDefaults(t *testing.T) {
	t.Parallel()
	tpl := parseFile(t, "rich.yaml", Locals{Parameters: map[string]string{"Stage": "prod"}})

	t.Run("a true condition includes the resource", func(t *testing.T) {
		t.Parallel()
		require.Contains(t, tpl.Functions, "AuditFunction")
	})
	t.Run("Fn::If picks the other branch; AWS::NoValue drops the variable", func(t *testing.T) {
		t.Parallel()
		env := tpl.Functions["ApiFunction"].Env
		require.Equal(t, "off", env["AUDIT"])
		require.Equal(t, "x", env["DROPPED"])
		require.Equal(t, "info", env["LOG_LEVEL"])
	})
	t.Run("default region, account and queue URL", func(t *testing.T) {
		t.Parallel()
		env := tpl.Functions["ApiFunction"].Env
		require.Equal(t, "http://127.0.0.1:9324/000000000000/JobsQueue", env["JOBS_QUEUE_URL"])
		require.Equal(t, "arn:aws:sqs:us-east-1:000000000000:JobsQueue", env["JOBS_QUEUE_ARN"])
	})
}

// minimal wraps resources in a template with one required parameter.
func minimal(resources string) string {
	return `
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
Resources:
` + resources
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	stage := map[string]string{"Stage": "test"}
	tests := []struct {
		name      string
		template  string
		params    map[string]string
		want      error
		wantWhere string
	}{
		{
			name:      "missing parameter",
			template:  minimal("  Q:\n    Type: AWS::SQS::Queue\n"),
			want:      ErrNoValue,
			wantWhere: "parameter Stage",
		},
		{
			name:      "override of an undeclared parameter",
			template:  minimal("  Q:\n    Type: AWS::SQS::Queue\n"),
			params:    map[string]string{"Stage": "test", "Stag": "x"},
			want:      ErrParameter,
			wantWhere: "parameter Stag",
		},
		{
			name: "value outside AllowedValues",
			template: `
Parameters:
  Stage: {Type: String, AllowedValues: [a, b]}
Resources:
  Q: {Type: AWS::SQS::Queue}
`,
			params:    stage,
			want:      ErrParameter,
			wantWhere: "parameter Stage",
		},
		{
			name: "dangling Ref",
			template: minimal(`  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          QUEUE: !Ref MissingQueue
`),
			params:    stage,
			want:      ErrDangling,
			wantWhere: "WorkFunction",
		},
		{
			name: "dangling ${} in Sub",
			template: minimal(`  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          ARN: !Sub "${Missing.Arn}"
`),
			params:    stage,
			want:      ErrDangling,
			wantWhere: "WorkFunction",
		},
		{
			name: "dangling Ref in Globals",
			template: `
Globals:
  Function:
    Environment:
      Variables:
        X: !Ref Nope
Resources:
  WorkFunction: {Type: AWS::Serverless::Function}
`,
			want:      ErrDangling,
			wantWhere: "Globals.Function",
		},
		{
			name: "dangling DependsOn",
			template: minimal(`  Q:
    Type: AWS::SQS::Queue
    DependsOn: Nope
`),
			params:    stage,
			want:      ErrDangling,
			wantWhere: "Q",
		},
		{
			name: "attribute the local stack cannot resolve",
			template: minimal(`  Q:
    Type: AWS::SQS::Queue
  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          X: !GetAtt Q.Nope
`),
			params:    stage,
			want:      ErrUnsupported,
			wantWhere: "WorkFunction",
		},
		{
			name: "bad schedule: plural after 1",
			template: minimal(`  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(1 minutes)
`),
			params:    stage,
			want:      ErrSchedule,
			wantWhere: "WorkFunction.Events.Tick",
		},
		{
			name: "bad schedule: five cron fields",
			template: minimal(`  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: cron(0 12 * * ?)
`),
			params:    stage,
			want:      ErrSchedule,
			wantWhere: "WorkFunction.Events.Tick",
		},
		{
			name: "SQS event on a queue the template lacks",
			template: minimal(`  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: arn:aws:sqs:us-east-1:000000000000:Elsewhere
`),
			params:    stage,
			want:      ErrNotInTemplate,
			wantWhere: "WorkFunction.Events.Work",
		},
		{
			name: "SQS event given the queue URL instead of its ARN",
			template: minimal(`  Q:
    Type: AWS::SQS::Queue
  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !Ref Q
`),
			params:    stage,
			want:      ErrNotInTemplate,
			wantWhere: "WorkFunction.Events.Work",
		},
		{
			name: "queue visibility timeout shorter than the function timeout",
			template: minimal(`  Q:
    Type: AWS::SQS::Queue
  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 60
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
`),
			params:    stage,
			want:      ErrInvalid,
			wantWhere: "WorkFunction.Events.Work",
		},
		{
			name: "notification to a missing queue",
			template: minimal(`  B:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectCreated:*
            Queue: arn:aws:sqs:us-east-1:000000000000:Gone
`),
			params:    stage,
			want:      ErrNotInTemplate,
			wantWhere: "B.NotificationConfiguration.QueueConfigurations[0]",
		},
		{
			name: "notification to a missing function",
			template: minimal(`  B:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        LambdaConfigurations:
          - Event: s3:ObjectCreated:*
            Function: arn:aws:lambda:us-east-1:000000000000:function:Gone
`),
			params:    stage,
			want:      ErrNotInTemplate,
			wantWhere: "B.NotificationConfiguration.LambdaConfigurations[0]",
		},
		{
			name: "an S3 event overlapping a bucket notification",
			template: minimal(`  Q:
    Type: AWS::SQS::Queue
  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Up:
          Type: S3
          Properties:
            Bucket: !Ref B
            Events: s3:ObjectCreated:Put
  B:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        QueueConfigurations:
          - Event: s3:ObjectCreated:*
            Queue: !GetAtt Q.Arn
`),
			params:    stage,
			want:      ErrInvalid,
			wantWhere: "B",
		},
		{
			name: "Architectures in Globals and on the function",
			template: `
Globals:
  Function:
    Architectures: [arm64]
Resources:
  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Architectures: [x86_64]
`,
			want:      ErrInvalid,
			wantWhere: "WorkFunction",
		},
		{
			name: "duplicate route",
			template: `
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {Method: GET, Path: /x}}
  BFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {Method: get, Path: /x}}
`,
			want:      ErrInvalid,
			wantWhere: "BFunction",
		},
		{
			name: "event type the local stack does not run",
			template: `
Resources:
  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Topic: {Type: SNS, Properties: {Topic: arn:aws:sns:us-east-1:000000000000:t}}
`,
			want:      ErrUnsupported,
			wantWhere: "WorkFunction.Events.Topic",
		},
		{
			name: "name the Makefile cannot map back",
			template: `
Resources:
  HTTPFunction: {Type: AWS::Serverless::Function}
`,
			want:      ErrInvalid,
			wantWhere: "HTTPFunction",
		},
		{
			name: "a trigger declared outside SAM events",
			template: `
Resources:
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties: {FunctionName: x, EventSourceArn: y}
`,
			want:      ErrUnsupported,
			wantWhere: "Mapping",
		},
		{
			name: "condition cycle",
			template: `
Conditions:
  A: !Not [!Condition A]
Resources:
  WorkFunction: {Type: AWS::Serverless::Function, Condition: A}
`,
			want:      ErrInvalid,
			wantWhere: "WorkFunction",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.template), Locals{Parameters: tt.params})
			requireProblems(t, err, problem{tt.want, tt.wantWhere})
		})
	}
}

func TestLoadMissingFolder(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join("testdata", "rich.yaml"), Locals{Parameters: map[string]string{"Stage": "test"}})
	requireProblem(t, err, ErrNoFolder, "ApiFunction")
	requireProblem(t, err, ErrNoFolder, "WorkerFunction")
}

// TestParseConcurrently guards the lock around goformation's YAML reader,
// whose tag registry is a shared map (run with -race).
func TestParseConcurrently(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "rich.yaml"))
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = Parse(data, richLocals()) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

func TestMakefileNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		logicalID, folder string
	}{
		{"HealthFunction", "health"},
		{"HealthReadyFunction", "health-ready"},
		{"S3RelayFunction", "s3-relay"},
		{"TranscribeV2Function", "transcribe-v2"},
	}
	for _, tt := range tests {
		t.Run(tt.logicalID, func(t *testing.T) {
			t.Parallel()
			folder := folderOf(tt.logicalID[:len(tt.logicalID)-len("Function")])
			require.Equal(t, tt.folder, folder)
			require.Equal(t, tt.logicalID, logicalIDOf(folder))
		})
	}
}

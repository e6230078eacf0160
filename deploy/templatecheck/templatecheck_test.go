package templatecheck_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/deploy/templatecheck"
)

// realTemplate loads the repository's template.yaml.
func realTemplate(t *testing.T) *templatecheck.Template {
	t.Helper()
	tpl, err := templatecheck.Load(filepath.Join("..", "..", "template.yaml"))
	require.NoError(t, err)
	return tpl
}

// requireProblems requires err to hold a Problem naming each resource.
func requireProblems(t *testing.T, err error, resources ...string) {
	t.Helper()
	require.Error(t, err, "the check passed a broken template")
	var named []string
	for _, p := range templatecheck.Problems(err) {
		named = append(named, p.Resource)
	}
	for _, r := range resources {
		require.Contains(t, named, r, "no problem names %s; got:\n%v", r, err)
	}
}

func TestChecksPassOnTheRealTemplate(t *testing.T) {
	t.Parallel()
	tpl := realTemplate(t)
	for _, c := range templatecheck.Checks() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, c.Run(tpl), "rule: %s", c.Rule)
		})
	}
}

// --- editing helpers: each breaks one thing in a clone of the real template ---

func m(v any) map[string]any {
	out, _ := v.(map[string]any)
	return out
}

func event(tpl *templatecheck.Template, fn string) map[string]any {
	return m(m(m(tpl.Properties(fn)["Events"])["Queue"])["Properties"])
}

// statement finds the policy statement with this Sid in a function's
// Policies or a policy resource's PolicyDocument.
func statement(t *testing.T, tpl *templatecheck.Template, id, sid string) map[string]any {
	t.Helper()
	props := tpl.Properties(id)
	docs := []any{props["PolicyDocument"]}
	if ps, ok := props["Policies"].([]any); ok {
		docs = append(docs, ps...)
	}
	for _, d := range docs {
		sts, _ := m(d)["Statement"].([]any)
		for _, st := range sts {
			if m(st)["Sid"] == sid {
				return m(st)
			}
		}
	}
	t.Fatalf("no statement %s in %s", sid, id)
	return nil
}

func appendPolicy(tpl *templatecheck.Template, fn string, p any) {
	props := tpl.Properties(fn)
	props["Policies"] = append(props["Policies"].([]any), p)
}

func globalFunction(tpl *templatecheck.Template) map[string]any {
	return m(tpl.Section("Globals")["Function"])
}

type broken struct {
	name  string
	check func(*templatecheck.Template) error
	edit  func(t *testing.T, tpl *templatecheck.Template)
	want  []string // resources the problems must name
}

func runBroken(t *testing.T, tests []broken) {
	t.Helper()
	real := realTemplate(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl := real.Clone()
			tt.edit(t, tpl)
			requireProblems(t, tt.check(tpl), tt.want...)
		})
	}
}

func TestFunctionFoldersRefuse(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"a function without a folder", templatecheck.FunctionFolders, func(_ *testing.T, tpl *templatecheck.Template) {
			tpl.Section("Resources")["ReportsFunction"] = map[string]any{"Type": templatecheck.TypeFunction, "Properties": map[string]any{}}
		}, []string{"ReportsFunction"}},
		{"a folder without a function", templatecheck.FunctionFolders, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Section("Resources"), "MeFunction")
		}, []string{"functions/me"}},
	})
}

func TestBuildTargetsRefuse(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"an x86_64 function built for arm64", templatecheck.BuildTargets, func(_ *testing.T, tpl *templatecheck.Template) {
			tpl.Properties("TranscodeFunction")["Architectures"] = []any{"arm64"}
		}, []string{"TranscodeFunction", "Makefile"}},
		{"an x86_64 function missing from X86_FUNCTIONS", templatecheck.BuildTargets, func(_ *testing.T, tpl *templatecheck.Template) {
			tpl.Properties("HealthFunction")["Architectures"] = []any{"x86_64"}
		}, []string{"HealthFunction"}},
		{"Architectures unset is x86_64", templatecheck.BuildTargets, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Properties("MeFunction"), "Architectures")
		}, []string{"MeFunction"}},
		{"a function whose target builds nothing", templatecheck.BuildTargets, func(_ *testing.T, tpl *templatecheck.Template) {
			tpl.Section("Resources")["ReportsFunction"] = map[string]any{
				"Type": templatecheck.TypeFunction, "Properties": map[string]any{"Architectures": []any{"arm64"}},
			}
		}, []string{"ReportsFunction"}},
		{"a layer without a target", templatecheck.BuildTargets, func(_ *testing.T, tpl *templatecheck.Template) {
			tpl.Section("Resources")["ImageMagickLayer"] = map[string]any{
				"Type": templatecheck.TypeLayer, "Metadata": map[string]any{"BuildMethod": "makefile"}, "Properties": map[string]any{},
			}
		}, []string{"ImageMagickLayer"}},
	})
}

func TestNoWildcardIAMRefuses(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"resource *", templatecheck.NoWildcardIAM, func(t *testing.T, tpl *templatecheck.Template) {
			statement(t, tpl, "UploadsCreateFunction", "SignUploads")["Resource"] = "*"
		}, []string{"UploadsCreateFunction"}},
		{"every object of the bucket", templatecheck.NoWildcardIAM, func(t *testing.T, tpl *templatecheck.Template) {
			statement(t, tpl, "AssetsDownloadFunction", "SignDownloads")["Resource"] = map[string]any{"Fn::Sub": "${MediaBucket.Arn}/*"}
		}, []string{"AssetsDownloadFunction"}},
		{"action s3:*", templatecheck.NoWildcardIAM, func(t *testing.T, tpl *templatecheck.Template) {
			statement(t, tpl, "IngestFunction", "ReadPinAndRemoveUploads")["Action"] = []any{"s3:*"}
		}, []string{"IngestFunction"}},
		{"NotResource in an Allow", templatecheck.NoWildcardIAM, func(t *testing.T, tpl *templatecheck.Template) {
			s := statement(t, tpl, "SweeperFunction", "ReadDeadLetters")
			s["NotResource"] = s["Resource"]
			delete(s, "Resource")
		}, []string{"SweeperFunction"}},
		{"any region and account in a managed policy", templatecheck.NoWildcardIAM, func(t *testing.T, tpl *templatecheck.Template) {
			statement(t, tpl, "SecretsBasePolicy", "ReadBaseSecrets")["Resource"] = "arn:aws:ssm:*:*:parameter/redub/production"
		}, []string{"SecretsBasePolicy"}},
		{"an AWS managed policy", templatecheck.NoWildcardIAM, func(_ *testing.T, tpl *templatecheck.Template) {
			appendPolicy(tpl, "MeFunction", "AmazonS3FullAccess")
		}, []string{"MeFunction"}},
		{"a SAM policy template not in the allowlist", templatecheck.NoWildcardIAM, func(_ *testing.T, tpl *templatecheck.Template) {
			appendPolicy(tpl, "JobsGetFunction", map[string]any{"S3CrudPolicy": map[string]any{"BucketName": map[string]any{"Ref": "MediaBucket"}}})
		}, []string{"JobsGetFunction"}},
		{"an SQS consumer not fenced to its queue", templatecheck.NoWildcardIAM, func(t *testing.T, tpl *templatecheck.Template) {
			statement(t, tpl, "MixFunction", "OwnQueueOnly")["Effect"] = "Allow" // no longer a Deny
		}, []string{"MixFunction"}},
		{"a fence around another queue", templatecheck.NoWildcardIAM, func(t *testing.T, tpl *templatecheck.Template) {
			statement(t, tpl, "TranslateFunction", "OwnQueueOnly")["NotResource"] = map[string]any{"Fn::GetAtt": "MixQueue.Arn"}
		}, []string{"TranslateFunction"}},
		{"a queue policy open to everyone", templatecheck.NoWildcardIAM, func(t *testing.T, tpl *templatecheck.Template) {
			statement(t, tpl, "IngestQueuePolicy", "MediaBucketNotifications")["Principal"] = "*"
		}, []string{"IngestQueuePolicy"}},
	})
}

func TestBatchItemFailuresRefuses(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"no FunctionResponseTypes", templatecheck.BatchItemFailures, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(event(tpl, "TranslateFunction"), "FunctionResponseTypes")
		}, []string{"TranslateFunction"}},
	})
}

func TestAlarmMetricLimitRefuses(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"eleven metrics", templatecheck.AlarmMetricLimit, func(_ *testing.T, tpl *templatecheck.Template) {
			props := tpl.Properties("JobRoutesErrorsAlarm")
			metrics, _ := props["Metrics"].([]any)
			var stat any
			for _, m := range metrics {
				if mm, _ := m.(map[string]any); mm["MetricStat"] != nil {
					stat = mm
				}
			}
			for len(metrics) < 12 {
				metrics = append(metrics, stat)
			}
			props["Metrics"] = metrics
		}, []string{"JobRoutesErrorsAlarm"}},
	})
}

func TestVisibilityTimeoutsRefuse(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"shorter than 6 timeouts", templatecheck.VisibilityTimeouts, func(_ *testing.T, tpl *templatecheck.Template) {
			tpl.Properties("TranscodeQueue")["VisibilityTimeout"] = 900.0
		}, []string{"TranscodeQueue"}},
		{"the batching window not counted", templatecheck.VisibilityTimeouts, func(_ *testing.T, tpl *templatecheck.Template) {
			event(tpl, "MixFunction")["MaximumBatchingWindowInSeconds"] = 60.0
		}, []string{"MixQueue"}},
		{"the default of 30 s", templatecheck.VisibilityTimeouts, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Properties("IngestQueue"), "VisibilityTimeout")
		}, []string{"IngestQueue"}},
	})
}

func TestDeadLetterQueuesRefuse(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"a queue without a DLQ", templatecheck.DeadLetterQueues, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Properties("MixQueue"), "RedrivePolicy")
		}, []string{"MixQueue"}},
		{"maxReceiveCount 3", templatecheck.DeadLetterQueues, func(_ *testing.T, tpl *templatecheck.Template) {
			m(tpl.Properties("TranslateQueue")["RedrivePolicy"])["maxReceiveCount"] = 3.0
		}, []string{"TranslateQueue"}},
		{"a DLQ without a depth alarm", templatecheck.DeadLetterQueues, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Section("Resources"), "MixDeadLetterQueueDepthAlarm")
		}, []string{"MixDeadLetterQueue"}},
		{"a depth alarm that notifies nobody", templatecheck.DeadLetterQueues, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Properties("IngestDeadLetterQueueDepthAlarm"), "AlarmActions")
		}, []string{"IngestDeadLetterQueue"}},
	})
}

func TestQueueSettingsRefuse(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"MaximumMessageSize unset", templatecheck.QueueSettings, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Properties("TranslateQueue"), "MaximumMessageSize")
		}, []string{"TranslateQueue"}},
		{"not encrypted", templatecheck.QueueSettings, func(_ *testing.T, tpl *templatecheck.Template) {
			tpl.Properties("IngestDeadLetterQueue")["SqsManagedSseEnabled"] = false
		}, []string{"IngestDeadLetterQueue"}},
	})
}

func TestPrivateBucketsRefuse(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"public policies not blocked", templatecheck.PrivateBuckets, func(_ *testing.T, tpl *templatecheck.Template) {
			m(tpl.Properties("MediaBucket")["PublicAccessBlockConfiguration"])["BlockPublicPolicy"] = false
		}, []string{"MediaBucket"}},
		{"not versioned", templatecheck.PrivateBuckets, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Properties("MediaBucket"), "VersioningConfiguration")
		}, []string{"MediaBucket"}},
		{"a public-read ACL", templatecheck.PrivateBuckets, func(_ *testing.T, tpl *templatecheck.Template) {
			tpl.Properties("MediaBucket")["AccessControl"] = "PublicRead"
		}, []string{"MediaBucket"}},
		{"a bucket policy allowing everyone", templatecheck.PrivateBuckets, func(t *testing.T, tpl *templatecheck.Template) {
			s := statement(t, tpl, "MediaBucketPolicy", "DenyInsecureTransport")
			s["Effect"] = "Allow"
			s["Action"] = "s3:GetObject"
		}, []string{"MediaBucket"}},
		{"the backups bucket over plain HTTP", templatecheck.PrivateBuckets, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Section("Resources"), "BackupsBucketPolicy")
		}, []string{"BackupsBucket"}},
		{"TLS only for the objects but not the bucket", templatecheck.PrivateBuckets, func(t *testing.T, tpl *templatecheck.Template) {
			s := statement(t, tpl, "MediaBucketPolicy", "DenyInsecureTransport")
			s["Resource"] = list(s["Resource"])[1:]
		}, []string{"MediaBucket"}},
	})
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func TestQueuePolicySourcesRefuse(t *testing.T) {
	t.Parallel()
	cond := func(t *testing.T, tpl *templatecheck.Template) map[string]any {
		return m(statement(t, tpl, "IngestQueuePolicy", "MediaBucketNotifications")["Condition"])
	}
	runBroken(t, []broken{
		{"no aws:SourceArn", templatecheck.QueuePolicySources, func(t *testing.T, tpl *templatecheck.Template) {
			delete(cond(t, tpl), "ArnLike")
		}, []string{"IngestQueuePolicy"}},
		{"another stack's buckets", templatecheck.QueuePolicySources, func(t *testing.T, tpl *templatecheck.Template) {
			m(cond(t, tpl)["ArnLike"])["aws:SourceArn"] = map[string]any{"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}
		}, []string{"IngestQueuePolicy"}},
		{"no aws:SourceAccount", templatecheck.QueuePolicySources, func(t *testing.T, tpl *templatecheck.Template) {
			delete(cond(t, tpl), "StringEquals")
		}, []string{"IngestQueuePolicy"}},
	})
}

func TestDevLoginOnlyInDevelopmentRefuses(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"no Condition", templatecheck.DevLoginOnlyInDevelopment, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Resource(templatecheck.DevLoginFunction), "Condition")
		}, []string{templatecheck.DevLoginFunction}},
		{"a Condition that holds in staging", templatecheck.DevLoginOnlyInDevelopment, func(_ *testing.T, tpl *templatecheck.Template) {
			tpl.Section("Conditions")["IsDevelopment"] = map[string]any{
				"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "Stage"}, "production"}}},
			}
		}, []string{templatecheck.DevLoginFunction}},
		{"a Condition that never holds", templatecheck.DevLoginOnlyInDevelopment, func(_ *testing.T, tpl *templatecheck.Template) {
			tpl.Resource(templatecheck.DevLoginFunction)["Condition"] = "IsProduction"
		}, []string{templatecheck.DevLoginFunction}},
		{"no dev login at all", templatecheck.DevLoginOnlyInDevelopment, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Section("Resources"), templatecheck.DevLoginFunction)
		}, []string{templatecheck.DevLoginFunction}},
	})
}

func TestCanaryInProductionRefuses(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"all at once in production", templatecheck.CanaryInProduction, func(_ *testing.T, tpl *templatecheck.Template) {
			m(globalFunction(tpl)["DeploymentPreference"])["Type"] = "AllAtOnce"
		}, []string{"HealthFunction", "MixFunction"}},
		{"a canary in staging", templatecheck.CanaryInProduction, func(_ *testing.T, tpl *templatecheck.Template) {
			m(globalFunction(tpl)["DeploymentPreference"])["Type"] = "Canary10Percent5Minutes"
		}, []string{"JobsGetFunction"}},
		{"no alias", templatecheck.CanaryInProduction, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(globalFunction(tpl), "AutoPublishAlias")
		}, []string{"SweeperFunction"}},
		{"no rollback alarms", templatecheck.CanaryInProduction, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(m(globalFunction(tpl)["DeploymentPreference"]), "Alarms")
		}, []string{"AssetsListFunction"}},
		{"a rollback alarm that is not an alarm", templatecheck.CanaryInProduction, func(_ *testing.T, tpl *templatecheck.Template) {
			m(tpl.Properties("IngestFunction")["DeploymentPreference"])["Alarms"] = []any{map[string]any{"Ref": "IngestQueue"}}
		}, []string{"IngestFunction"}},
		{"a rollback alarm on the HttpApi (a dependency cycle)", templatecheck.CanaryInProduction, func(_ *testing.T, tpl *templatecheck.Template) {
			props := tpl.Properties("ApiServerErrorsAlarm")
			props["Metrics"] = nil
			props["Namespace"] = "AWS/ApiGateway"
			props["MetricName"] = "5xx"
			props["Dimensions"] = []any{map[string]any{"Name": "ApiId", "Value": map[string]any{"Ref": "HttpApi"}}}
		}, []string{"MeFunction"}},
	})
}

func TestLogRetentionRefuses(t *testing.T) {
	t.Parallel()
	runBroken(t, []broken{
		{"no LoggingConfig", templatecheck.LogRetention, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Properties("MeFunction"), "LoggingConfig")
		}, []string{"MeFunction"}},
		{"no retention", templatecheck.LogRetention, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Properties("MixLogGroup"), "RetentionInDays")
		}, []string{"MixLogGroup"}},
		{"a log group shared by two functions", templatecheck.LogRetention, func(_ *testing.T, tpl *templatecheck.Template) {
			m(tpl.Properties("JobsListFunction")["LoggingConfig"])["LogGroup"] = map[string]any{"Ref": "JobsGetLogGroup"}
		}, []string{"JobsListFunction"}},
		{"a log group left in every stage", templatecheck.LogRetention, func(_ *testing.T, tpl *templatecheck.Template) {
			delete(tpl.Resource("AuthDevLoginLogGroup"), "Condition")
		}, []string{"AuthDevLoginLogGroup"}},
	})
}

// fakeBuild writes one file of the given apparent size (sparse: no disk
// used) per logical id, 1 MB for the rest.
func fakeBuild(sizes map[string]int64) templatecheck.Builder {
	return func(_ context.Context, id, dir string) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		n, ok := sizes[id]
		if !ok {
			n = 1 << 20
		}
		f, err := os.Create(filepath.Join(dir, "payload"))
		if err != nil {
			return err
		}
		if err := f.Truncate(n); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}

func TestUnzippedSizesRefuseALayerTooLarge(t *testing.T) {
	t.Parallel()
	tpl := realTemplate(t)
	sizes, err := templatecheck.UnzippedSizes(t.Context(), tpl, fakeBuild(nil), t.TempDir())
	require.NoError(t, err)
	require.NotEmpty(t, sizes)

	_, err = templatecheck.UnzippedSizes(t.Context(), tpl, fakeBuild(map[string]int64{"FFmpegLayer": 250 << 20}), t.TempDir())
	requireProblems(t, err, "MixFunction", "TranscodeFunction")
	for _, p := range templatecheck.Problems(err) {
		require.NotEqual(t, "SweeperFunction", p.Resource, "a function without the layer is not over")
	}
}

func TestUnzippedSizesRefuseALayerOutsideTheTemplate(t *testing.T) {
	t.Parallel()
	tpl := realTemplate(t)
	props := tpl.Properties("MixFunction")
	props["Layers"] = append(props["Layers"].([]any), "arn:aws:lambda:us-east-1:123456789012:layer:fonts:3")
	_, err := templatecheck.UnzippedSizes(t.Context(), tpl, fakeBuild(nil), t.TempDir())
	requireProblems(t, err, "MixFunction")
}

// The real layers and functions, built by the Makefile as `sam build` builds
// them, fit Lambda's 250 MB unzipped (about 10 s; skipped by -short).
func TestUnzippedSizesOfTheRealBuild(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the layers and the functions that use them")
	}
	tpl := realTemplate(t)
	// Debian 12 has postgresql-client-15 only (17 needs the PGDG repository);
	// the client's size barely changes between majors.
	pgMajor := os.Getenv("PG_MAJOR")
	if pgMajor == "" {
		pgMajor = "15"
	}
	repo, err := filepath.Abs(tpl.Dir)
	require.NoError(t, err)
	sizes, err := templatecheck.UnzippedSizes(t.Context(), tpl, templatecheck.MakeBuilder(repo, "PG_MAJOR="+pgMajor), t.TempDir())
	require.NoError(t, err)
	var withFFmpeg []string
	for _, s := range sizes {
		t.Logf("%-20s %11d bytes = %d own + layers %v (%.1f MB left)", s.Function, s.Total(), s.Bytes, s.Layers,
			float64(templatecheck.LambdaUnzippedLimit-s.Total())/1e6)
		if _, ok := s.Layers["FFmpegLayer"]; ok {
			withFFmpeg = append(withFFmpeg, s.Function)
		}
	}
	require.True(t, slices.Contains(withFFmpeg, "MixFunction"), "the media functions carry the FFmpeg layer: %v", withFFmpeg)
}

func TestLogicalIDAndFolderAreTheMakefiles(t *testing.T) {
	t.Parallel()
	for folder, id := range map[string]string{
		"health":               "HealthFunction",
		"health-ready":         "HealthReadyFunction",
		"auth-google-callback": "AuthGoogleCallbackFunction",
		"mp4-export":           "Mp4ExportFunction",
	} {
		require.Equal(t, id, templatecheck.LogicalID(folder))
		require.Equal(t, folder, templatecheck.Folder(id))
	}
}

func TestAllowlistGivesReasons(t *testing.T) {
	t.Parallel()
	for _, a := range templatecheck.Allowlist() {
		require.NotEmpty(t, a.What)
		require.NotEmpty(t, a.Reason, "%s needs a reason", a.What)
	}
}

func setEnv(tpl *templatecheck.Template, fn, name, value string) {
	props := tpl.Properties(fn)
	env := m(props["Environment"])
	if env == nil {
		env = map[string]any{}
		props["Environment"] = env
	}
	vars := m(env["Variables"])
	if vars == nil {
		vars = map[string]any{}
		env["Variables"] = vars
	}
	vars[name] = value
}

func TestSecretsPerFunctionRefuses(t *testing.T) {
	t.Parallel()
	ssmARN := func(tail string) any {
		return map[string]any{"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/redub/${Stage}/" + tail}
	}
	runBroken(t, []broken{
		{"a media function with the session secret", templatecheck.SecretsPerFunction, func(_ *testing.T, tpl *templatecheck.Template) {
			appendPolicy(tpl, "IngestFunction", map[string]any{"Ref": "SecretsSessionPolicy"})
			setEnv(tpl, "IngestFunction", "SECRETS_SSM_NAMES", "DATABASE_URL,SENTRY_DSN,AUTH_SECRET")
		}, []string{"IngestFunction"}},
		{"a media function with the Google client", templatecheck.SecretsPerFunction, func(_ *testing.T, tpl *templatecheck.Template) {
			appendPolicy(tpl, "MixFunction", map[string]any{"Ref": "SecretsGooglePolicy"})
			setEnv(tpl, "MixFunction", "SECRETS_SSM_NAMES", "DATABASE_URL,SENTRY_DSN,GOOGLE_CLIENT_ID,GOOGLE_CLIENT_SECRET")
		}, []string{"MixFunction"}},
		{"the whole stage path again", templatecheck.SecretsPerFunction, func(_ *testing.T, tpl *templatecheck.Template) {
			appendPolicy(tpl, "MeFunction", map[string]any{"Statement": []any{map[string]any{
				"Effect": "Allow", "Action": "ssm:GetParametersByPath", "Resource": ssmARN(""),
			}}})
		}, []string{"MeFunction"}},
		{"a wildcard parameter", templatecheck.SecretsPerFunction, func(_ *testing.T, tpl *templatecheck.Template) {
			appendPolicy(tpl, "JobsGetFunction", map[string]any{"Statement": []any{map[string]any{
				"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": ssmARN("*"),
			}}})
		}, []string{"JobsGetFunction"}},
		{"a grant the function does not list", templatecheck.SecretsPerFunction, func(_ *testing.T, tpl *templatecheck.Template) {
			appendPolicy(tpl, "SweeperFunction", map[string]any{"Ref": "SecretsProvidersPolicy"})
		}, []string{"SweeperFunction"}},
		{"a name the policies do not grant", templatecheck.SecretsPerFunction, func(_ *testing.T, tpl *templatecheck.Template) {
			setEnv(tpl, "TranscodeFunction", "SECRETS_SSM_NAMES", "DATABASE_URL,SENTRY_DSN,OPENAI_API_KEY")
		}, []string{"TranscodeFunction"}},
		{"a SAM SSM policy template", templatecheck.SecretsPerFunction, func(_ *testing.T, tpl *templatecheck.Template) {
			appendPolicy(tpl, "HealthFunction", map[string]any{"SSMParameterReadPolicy": map[string]any{"ParameterName": "redub/production/*"}})
		}, []string{"HealthFunction"}},
		{"a preview's dev-login without its access code", templatecheck.SecretsPerFunction, func(_ *testing.T, tpl *templatecheck.Template) {
			setEnv(tpl, templatecheck.DevLoginFunction, "SECRETS_SSM_NAMES", "DATABASE_URL,SENTRY_DSN,AUTH_SECRET")
			props := tpl.Properties(templatecheck.DevLoginFunction)
			props["Policies"] = props["Policies"].([]any)[:2]
		}, []string{templatecheck.DevLoginFunction}},
		{"a preview granted its stage's path", templatecheck.SecretsPerFunction, func(t *testing.T, tpl *templatecheck.Template) {
			s := statement(t, tpl, "SecretsSessionPolicy", "ReadSessionSecret")
			s["Resource"] = []any{ssmARN("AUTH_SECRET")} // no !If on SecretsPath: a preview would read staging's
		}, []string{"AuthGoogleFunction", "MeFunction"}},
	})
}

// transformed is the SAM-transformed real template, made once per test run.
var transformed = sync.OnceValues(func() (*templatecheck.Template, error) {
	return templatecheck.Transform(context.Background(), filepath.Join("..", "..", "template.yaml"))
})

func TestTransformedFunctionPolicies(t *testing.T) {
	t.Parallel()
	real, err := transformed()
	if errors.Is(err, templatecheck.ErrNoSAMTranslator) {
		t.Skip(err.Error())
	}
	require.NoError(t, err)
	require.NoError(t, templatecheck.TransformedFunctionPolicies(real))

	role := func(tpl *templatecheck.Template, id string) map[string]any { return tpl.Properties(id + "Role") }
	for _, tt := range []struct {
		name string
		edit func(tpl *templatecheck.Template)
		want string
	}{
		{"an AWS managed SSM policy", func(tpl *templatecheck.Template) {
			r := role(tpl, "IngestFunction")
			r["ManagedPolicyArns"] = append(r["ManagedPolicyArns"].([]any), "arn:aws:iam::aws:policy/AmazonSSMReadOnlyAccess")
		}, "IngestFunction"},
		{"the poller's fence gone", func(tpl *templatecheck.Template) {
			r := role(tpl, "MixFunction")
			var kept []any
			for _, p := range r["Policies"].([]any) {
				if !strings.Contains(compactJSON(p), "OwnQueueOnly") {
					kept = append(kept, p)
				}
			}
			r["Policies"] = kept
		}, "MixFunction"},
		{"the session secret for a media function", func(tpl *templatecheck.Template) {
			r := role(tpl, "TranscodeFunction")
			r["ManagedPolicyArns"] = append(r["ManagedPolicyArns"].([]any), map[string]any{"Ref": "SecretsSessionPolicy"})
		}, "TranscodeFunction"},
		{"an expanded policy template on every queue", func(tpl *templatecheck.Template) {
			r := role(tpl, "JobsCreateFunction")
			r["Policies"] = append(r["Policies"].([]any), map[string]any{"PolicyName": "x", "PolicyDocument": map[string]any{
				"Statement": []any{map[string]any{"Effect": "Allow", "Action": []any{"sqs:ReceiveMessage"}, "Resource": "*"}},
			}})
		}, "JobsCreateFunction"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl := real.Clone()
			tt.edit(tpl)
			requireProblems(t, templatecheck.TransformedFunctionPolicies(tpl), tt.want)
		})
	}
}

func compactJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// make lint fails on any cfn-lint warning but those a `Metadata: cfn-lint`
// entry allows; each such entry must say why, in a comment just above it.
func TestCfnLintAllowancesAreCommented(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	found := 0
	for i, line := range lines {
		if strings.TrimSpace(line) != "cfn-lint:" {
			continue
		}
		found++
		commented := false
		for j := i - 1; j >= max(0, i-8); j-- {
			if strings.HasPrefix(strings.TrimSpace(lines[j]), "#") {
				commented = true
				break
			}
		}
		require.True(t, commented, "template.yaml:%d: a cfn-lint allowance without a comment saying why", i+1)
	}
	require.Positive(t, found, "the W1028 allowance on HttpApi is expected")
}

func bootstrapTemplate(t *testing.T) *templatecheck.Template {
	t.Helper()
	tpl, err := templatecheck.Load(filepath.Join("..", "bootstrap.yaml"))
	require.NoError(t, err)
	return tpl
}

func TestBootstrapRoles(t *testing.T) {
	t.Parallel()
	real := bootstrapTemplate(t)
	require.NoError(t, templatecheck.BootstrapRoles(real))
	trust := func(tpl *templatecheck.Template, id string) map[string]any {
		doc := m(tpl.Properties(id)["AssumeRolePolicyDocument"])
		return m(m(doc["Statement"].([]any)[0])["Condition"])
	}
	for _, tt := range []struct {
		name string
		edit func(t *testing.T, tpl *templatecheck.Template)
		want string
	}{
		{"a wildcard default", func(_ *testing.T, tpl *templatecheck.Template) {
			tpl.Section("Parameters")["SubjectFilter"] = map[string]any{"Type": "String", "Default": "*"}
		}, "parameter SubjectFilter"},
		{"any job of the repository", func(_ *testing.T, tpl *templatecheck.Template) {
			c := trust(tpl, "ProductionDeployRole")
			delete(m(c["StringEquals"]), "token.actions.githubusercontent.com:sub")
			c["StringLike"] = map[string]any{"token.actions.githubusercontent.com:sub": map[string]any{"Fn::Sub": "repo:${GitHubRepository}:*"}}
		}, "ProductionDeployRole"},
		{"staging may change every redub stack", func(t *testing.T, tpl *templatecheck.Template) {
			s := roleStatement(t, tpl, "StagingDeployRole", "Stacks")
			s["Resource"] = map[string]any{"Fn::Sub": "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/redub-*/*"}
		}, "StagingDeployRole"},
		{"previews without the production fence", func(t *testing.T, tpl *templatecheck.Template) {
			s := roleStatement(t, tpl, "PreviewDeployRole", "NeverProduction")
			s["Resource"] = []any{}
		}, "PreviewDeployRole"},
		{"the staging role trusts production jobs", func(_ *testing.T, tpl *templatecheck.Template) {
			m(trust(tpl, "StagingDeployRole")["StringEquals"])["token.actions.githubusercontent.com:sub"] =
				map[string]any{"Fn::Sub": "repo:${GitHubRepository}:environment:production"}
		}, "bootstrap"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl := real.Clone()
			tt.edit(t, tpl)
			requireProblems(t, templatecheck.BootstrapRoles(tpl), tt.want)
		})
	}
}

// roleStatement finds the statement with this Sid in a role's inline policies.
func roleStatement(t *testing.T, tpl *templatecheck.Template, id, sid string) map[string]any {
	t.Helper()
	for _, p := range tpl.Properties(id)["Policies"].([]any) {
		for _, st := range m(m(p)["PolicyDocument"])["Statement"].([]any) {
			if m(st)["Sid"] == sid {
				return m(st)
			}
		}
	}
	t.Fatalf("no statement %s in %s", sid, id)
	return nil
}

// Package config reads redub's configuration into one typed struct, validated
// once at cold start.
//
// Values come from an injected getenv (os.Getenv in a Lambda, WithDotEnv
// around it for a local .env.local file) and, when SECRETS_SSM_PATH is set,
// from the parameters SECRETS_SSM_NAMES lists, read with GetParameters from
// SSM Parameter Store under /redub/<STAGE>/. The environment always wins:
// a parameter is used only for a variable the environment leaves empty, so a
// developer can override one secret without touching the shared store.
// Surrounding whitespace is ignored everywhere, since a pasted secret with a
// trailing newline is a mistake, never a secret.
//
// Load reports every problem at once, each as a *VarError naming the
// variable, and never echoes a secret: a bad DATABASE_URL is described, not
// quoted, because its password is part of it.
//
// # Variables
//
//	STAGE                  required: development | staging | production (environment only)
//	SECRETS_SSM_PATH       optional: "/redub/<STAGE>/"; read the other variables from SSM too (environment only)
//	SECRETS_SSM_NAMES      required with SECRETS_SSM_PATH: the parameters to read, comma-separated (environment only);
//	                       when set, staging/production require AUTH_SECRET and the Google client only if it lists them
//	DATABASE_URL           required: postgres:// or postgresql:// URL with a host (the pooled endpoint)
//	DATABASE_URL_UNPOOLED  optional: same form (direct endpoint, for migrations and backups)
//	DATABASE_EXEC_MODE     optional: exec (default) | cache_describe | simple_protocol | cache_statement | describe_exec
//	AUTH_SECRET            staging/production: required, at least 32 characters; development: a fixed development secret when unset
//	                       (alias NEXTAUTH_SECRET; AUTH_SECRET wins)
//	AUTH_URL               staging/production: required, absolute https URL; development: http(s), default http://localhost:3000
//	                       (alias NEXTAUTH_URL; AUTH_URL wins)
//	GOOGLE_CLIENT_ID       staging/production: required; development: optional, but needed together with the secret
//	GOOGLE_CLIENT_SECRET   staging/production: required; development: optional, but needed together with the id
//	DEV_LOGIN_CODE         required of a function listing it in SECRETS_SSM_NAMES (a preview's dev-login), 16+ characters
//	SESSION_MAX_AGE_DAYS   optional: a session's absolute lifetime in days, 1 to 3650, default 90
//	OPENAI_API_KEY         optional: offline engines when unset
//	OPENAI_BASE_URL        optional: absolute http(s) URL, default https://api.openai.com/v1
//	ELEVENLABS_API_KEY     optional: offline engines when unset
//	ELEVENLABS_BASE_URL    optional: absolute http(s) URL, default https://api.elevenlabs.io
//	TRANSCRIBE_ENGINE      optional: auto (default: elevenlabs with ELEVENLABS_API_KEY, else openai with OPENAI_API_KEY,
//	                       else local) | elevenlabs | openai | local; openai's whisper-1 is refused from 2027-02-26
//	                       (OpenAI's shutdown) and warned about at cold start in the 30 days before
//	ELEVENLABS_VOICES      optional: comma-separated voice ids given to a job's speakers in turn
//	ELEVENLABS_STT_MODEL   optional: the Scribe model, default scribe_v2
//	SLOT_AWARE_TRANSLATION optional: true (default) | false; translations fit their time slots and lines over 1.15x
//	                       tempo are rewritten shorter once
//	OPENAI_CONCURRENCY     optional: OpenAI requests one invocation keeps in flight, 1 to 64, default 4
//	ELEVENLABS_CONCURRENCY optional: ElevenLabs requests one invocation keeps in flight, 1 to 64, default 2
//	                       (the Free plan's limit; Starter 3, Creator 5, Pro 10, Scale and Business 15)
//	LOCAL_SPEECH_CONCURRENCY optional: pocketsphinx/espeak-ng processes one invocation runs at once, 1 to 64,
//	                       default 2
//	STORAGE_BUCKET         required: a valid S3 bucket name
//	STORAGE_REGION         optional: default AWS_REGION, then us-east-1
//	INGEST_QUEUE_URL, TRANSCODE_QUEUE_URL, TRANSCRIBE_QUEUE_URL, TRANSLATE_QUEUE_URL,
//	SYNTHESIZE_QUEUE_URL, MIX_QUEUE_URL
//	                       optional: absolute http(s) URL
//	SENTRY_DSN             optional: absolute http(s) URL
//	LOG_LEVEL              optional: debug | info | warn | error (any case), default info
//	AWS_LAMBDA_FUNCTION_MEMORY_SIZE  set by Lambda: megabytes, 128 to 10240; 0 when unset
//	LAMBDA_ARCHITECTURE    optional: arm64 | x86_64, default arm64
//	OUTPUT_RETENTION_DAYS  optional: days outputs are priced as kept, 1 to 3650, default 30
//	PRICES_JSON            optional: overrides of the price table (shared/cost)
//	MEDIA_MAX_SECONDS      optional: the longest source ingest accepts, in seconds, 1 to 14400 (4 h, the default)
//
// Local AWS endpoints are not configured here: the AWS SDK reads its own
// AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_SQS.
package config

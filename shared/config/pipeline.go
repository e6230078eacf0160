package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Pipeline is what the step functions, the sweeper and the backups read
// beyond the queue URLs.
type Pipeline struct {
	// StepLease is how long a running step or a paid call in flight is held
	// for a worker that stopped renewing it (STEP_LEASE_SECONDS, default 30).
	// The sweeper hands a step whose lease ran out to another worker.
	StepLease time.Duration
	// DeadLetterQueueURLs are the dead-letter queues the sweeper watches
	// (DEAD_LETTER_QUEUE_URLS, comma-separated).
	DeadLetterQueueURLs []string
	// BackupBucket is where database backups go (BACKUP_BUCKET).
	BackupBucket string
	// StepsPerUser is how many steps of one kind (transcodes, say) one
	// user's jobs may run at once (FAIR_SHARE_STEPS_PER_USER, default 2):
	// the rest wait in the database, so one user's backlog leaves the
	// queue's other workers to everyone else.
	StepsPerUser int
	// TranscodePart is the media length of one part of a transcode split
	// in parts (TRANSCODE_PART_SECONDS, default 300, from 10 to 900): a
	// source longer than one part is transcoded in parts, each its own
	// invocation (docs/pipeline.md says how the default was chosen).
	TranscodePart time.Duration
	// MixPart is the media length of one part of a mix split in parts
	// (MIX_PART_SECONDS, default 1800, from 10 to 14400): media longer than
	// one part is mixed in parts, each its own invocation, and merged
	// (docs/pipeline.md says how the default was chosen).
	MixPart time.Duration
}

// DefaultMixPart is MIX_PART_SECONDS's default: a part of 30 minutes
// renders in about a minute, and media up to it mixes whole, well inside
// the mix function's budget (docs/benchmarks.md, "Mix at 4 hours").
const DefaultMixPart = 1800 * time.Second

// DefaultTranscodePart is TRANSCODE_PART_SECONDS's default: a part of 1080p
// source takes about a third of the transcode function's 900 s.
const DefaultTranscodePart = 300 * time.Second

// DefaultStepsPerUser is FAIR_SHARE_STEPS_PER_USER's default: under the
// step queues' MaximumConcurrency of 5, it leaves three workers to others.
const DefaultStepsPerUser = 2

// DefaultStepLease is STEP_LEASE_SECONDS's default.
const DefaultStepLease = 30 * time.Second

func (l *loader) pipeline(c *Config) {
	c.Pipeline.StepLease = DefaultStepLease
	if v, name, ssm := l.lookup("STEP_LEASE_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 5 || n > 600:
			l.fail(name, ssm, fmt.Sprintf("is %q, want whole seconds from 5 to 600 (it must stay well below the queues' visibility timeouts)", v))
		default:
			c.Pipeline.StepLease = time.Duration(n) * time.Second
		}
	}
	c.Pipeline.StepsPerUser = int(l.positiveInt("FAIR_SHARE_STEPS_PER_USER", DefaultStepsPerUser, 100_000))
	c.Pipeline.TranscodePart = DefaultTranscodePart
	if v, name, ssm := l.lookup("TRANSCODE_PART_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 10 || n > 900:
			l.fail(name, ssm, fmt.Sprintf("is %q, want whole seconds from 10 to 900 (a part must fit well inside the transcode function's 900 s)", v))
		default:
			c.Pipeline.TranscodePart = time.Duration(n) * time.Second
		}
	}
	c.Pipeline.MixPart = DefaultMixPart
	if v, name, ssm := l.lookup("MIX_PART_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 10 || n > 14400:
			l.fail(name, ssm, fmt.Sprintf("is %q, want whole seconds from 10 to 14400", v))
		default:
			c.Pipeline.MixPart = time.Duration(n) * time.Second
		}
	}
	if v, name, ssm := l.lookup("DEAD_LETTER_QUEUE_URLS"); v != "" {
		for _, u := range strings.Split(v, ",") {
			u = strings.TrimSpace(u)
			if u == "" {
				continue
			}
			if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
				l.fail(name, ssm, fmt.Sprintf("holds %q, which is not a queue URL (want comma-separated http(s) URLs)", u))
				continue
			}
			c.Pipeline.DeadLetterQueueURLs = append(c.Pipeline.DeadLetterQueueURLs, u)
		}
	}
	if v, name, ssm := l.lookup("BACKUP_BUCKET"); v != "" {
		if problem := bucketProblem(v); problem != "" {
			l.fail(name, ssm, fmt.Sprintf("is %q, which is not an S3 bucket name: %s", v, problem))
		} else {
			c.Pipeline.BackupBucket = v
		}
	}
}

// BucketError says why name is not an S3 bucket name, for the commands
// that take a bucket outside Load (`redub backup --bucket`); nil when it is one.
func BucketError(varName, name string) error {
	if problem := bucketProblem(name); problem != "" {
		return &VarError{Name: varName, Reason: fmt.Sprintf("is %q, which is not an S3 bucket name: %s", name, problem)}
	}
	return nil
}

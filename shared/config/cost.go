package config

import (
	"fmt"
	"strconv"
)

// Cost is what the cost meter reads: the function's size and architecture
// (what an invocation is billed at), how long outputs are kept (what their
// storage is billed for) and the price table's override.
type Cost struct {
	// MemoryMB is the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
	// which Lambda sets); 0 outside Lambda.
	MemoryMB int
	// Architecture is the function's architecture (LAMBDA_ARCHITECTURE:
	// arm64, the template's, or x86_64; default arm64). Lambda sets no
	// variable for it, so the template's Globals does.
	Architecture string
	// OutputRetentionDays is how long a job's outputs are assumed to be kept
	// when their storage is priced (OUTPUT_RETENTION_DAYS, 1-3650, default 30).
	OutputRetentionDays int
	// PricesJSON overrides entries of the built-in price table
	// (PRICES_JSON; "" keeps it). shared/cost parses it.
	PricesJSON string
}

// DefaultOutputRetentionDays is OUTPUT_RETENTION_DAYS's default.
const DefaultOutputRetentionDays = 30

func (l *loader) cost(c *Config) {
	c.Cost = Cost{Architecture: "arm64", OutputRetentionDays: DefaultOutputRetentionDays}
	if v := l.env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 128 || n > 10240 {
			l.fail("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", false, fmt.Sprintf("is %q, want megabytes from 128 to 10240", v))
		} else {
			c.Cost.MemoryMB = n
		}
	}
	if v, name, ssm := l.lookup("LAMBDA_ARCHITECTURE"); v != "" {
		switch v {
		case "arm64", "x86_64":
			c.Cost.Architecture = v
		default:
			l.fail(name, ssm, fmt.Sprintf("is %q, want arm64 or x86_64", v))
		}
	}
	if v, name, ssm := l.lookup("OUTPUT_RETENTION_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3650 {
			l.fail(name, ssm, fmt.Sprintf("is %q, want whole days from 1 to 3650", v))
		} else {
			c.Cost.OutputRetentionDays = n
		}
	}
	if v, _, _ := l.lookup("PRICES_JSON"); v != "" {
		c.Cost.PricesJSON = v
	}
}

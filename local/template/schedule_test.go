package template

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestScheduleNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr  string
		after string
		want  string
	}{
		{"rate(1 minute)", "2026-01-01T12:00:30Z", "2026-01-01T12:01:00Z"},
		{"rate(5 minutes)", "2026-01-01T12:03:00Z", "2026-01-01T12:05:00Z"},
		{"rate(5 minutes)", "2026-01-01T12:05:00Z", "2026-01-01T12:10:00Z"},
		{"rate(2 hours)", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"},
		{"rate(1 day)", "2026-03-10T15:00:00Z", "2026-03-11T00:00:00Z"},
		{"rate(1 hour)", "2026-01-01T12:30:00+02:00", "2026-01-01T11:00:00Z"},
		{"cron(0 12 * * ? *)", "2026-01-01T11:59:59Z", "2026-01-01T12:00:00Z"},
		{"cron(0 12 * * ? *)", "2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z"},
		{"cron(0/15 * * * ? *)", "2026-01-01T10:07:00Z", "2026-01-01T10:15:00Z"},
		{"cron(0/15 * * * ? *)", "2026-01-01T23:50:00Z", "2026-01-02T00:00:00Z"},
		{"cron(5,35 8-9 * * ? *)", "2026-01-01T08:40:00Z", "2026-01-01T09:05:00Z"},
		{"cron(0 18 ? * MON-FRI *)", "2026-01-02T18:00:00Z", "2026-01-05T18:00:00Z"},
		{"cron(0 18 ? * 2-6 *)", "2026-01-02T18:00:00Z", "2026-01-05T18:00:00Z"},
		{"cron(0 9 1 JAN,JUL ? *)", "2026-02-01T00:00:00Z", "2026-07-01T09:00:00Z"},
		{"cron(0 9 1/10 * ? *)", "2026-01-02T00:00:00Z", "2026-01-11T09:00:00Z"},
		{"cron(0 0 L * ? *)", "2026-02-10T00:00:00Z", "2026-02-28T00:00:00Z"},
		{"cron(0 0 LW * ? *)", "2026-05-01T00:00:00Z", "2026-05-29T00:00:00Z"},  // the 31st is a Sunday
		{"cron(0 0 15W * ? *)", "2026-02-01T00:00:00Z", "2026-02-16T00:00:00Z"}, // the 15th is a Sunday
		{"cron(0 0 1W * ? *)", "2026-07-02T00:00:00Z", "2026-08-03T00:00:00Z"},  // the 1st is a Saturday
		{"cron(0 0 ? * 6#3 *)", "2026-01-01T00:00:00Z", "2026-01-16T00:00:00Z"},
		{"cron(0 0 ? * FRI#3 *)", "2026-01-17T00:00:00Z", "2026-02-20T00:00:00Z"},
		{"cron(0 0 ? * 6L *)", "2026-01-01T00:00:00Z", "2026-01-30T00:00:00Z"},
		{"cron(0 0 ? * L *)", "2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z"},
		{"cron(30 10 ? * SUN 2027)", "2026-06-01T00:00:00Z", "2027-01-03T10:30:00Z"},
		{"cron(0 0 29 2 ? *)", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" after "+tt.after, func(t *testing.T) {
			t.Parallel()
			got, err := Schedule{Expression: tt.expr}.Next(at(tt.after))
			require.NoError(t, err)
			require.Equal(t, at(tt.want).UTC(), got)
		})
	}
}

func TestScheduleNextNever(t *testing.T) {
	t.Parallel()
	tests := []string{
		"cron(0 0 30 2 ? *)",
		"cron(0 0 1 1 ? 2020)",
	}
	for _, expr := range tests {
		t.Run(expr, func(t *testing.T) {
			t.Parallel()
			_, err := Schedule{Expression: expr}.Next(at("2026-01-01T00:00:00Z"))
			require.ErrorIs(t, err, ErrNoNextSchedule)
		})
	}
}

func TestScheduleExpressions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr  string
		valid bool
	}{
		{"rate(1 minute)", true},
		{"rate(1 hour)", true},
		{"rate(1 day)", true},
		{"rate(7 days)", true},
		{"rate(90 minutes)", true},
		{"cron(0 8 1 * ? *)", true},
		{"cron(15 10 ? * 6L 2026-2030)", true},
		{"cron(0 0 ? * MON#2 *)", true},
		{"cron(0/5 8-17 ? * mon-fri *)", true},
		{"rate(0 minutes)", false},
		{"rate(1 minutes)", false},
		{"rate(2 minute)", false},
		{"rate(5 mins)", false},
		{"rate(-1 minutes)", false},
		{"rate(1.5 hours)", false},
		{"rate(5minutes)", false},
		{"rate( 5 minutes)", false},
		{"rate(5 minutes", false},
		{"cron(0 12 * * ?)", false},
		{"cron(0 12 * * * *)", false},
		{"cron(0 12 ? * ? *)", false},
		{"cron(60 12 * * ? *)", false},
		{"cron(0 24 * * ? *)", false},
		{"cron(0 12 32 * ? *)", false},
		{"cron(0 12 * 13 ? *)", false},
		{"cron(0 12 ? * 8 *)", false},
		{"cron(0 12 ? * FOO *)", false},
		{"cron(0 12 * * ? 1969)", false},
		{"cron(0 12 5-1 * ? *)", false},
		{"cron(0/0 12 * * ? *)", false},
		{"cron(0 12 ? * 2#6 *)", false},
		{"every 5 minutes", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			_, err := Schedule{Expression: tt.expr}.Next(at("2026-01-01T00:00:00Z"))
			if tt.valid {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrSchedule)
			}
		})
	}
}

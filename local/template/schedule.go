package template

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Next returns the first time after `after` at which the schedule fires, in
// UTC.
//
// A rate() fires on multiples of its period counted from the Unix epoch
// (rate(5 minutes) at :00, :05, ...; rate(1 day) at midnight UTC), so the
// answer does not depend on when the local stack started. EventBridge counts
// from when the rule was created instead, which no local run can reproduce.
//
// A cron() is EventBridge's six fields, minutes hours day-of-month month
// day-of-week year, evaluated in UTC, with * ? , - / and month and day
// names; L (last day of the month, or with a weekday the last such weekday),
// W (nearest weekday) and # (nth weekday of the month) are supported too. It
// returns an error wrapping [ErrSchedule] for an invalid expression and
// [ErrNoNextSchedule] when the expression never fires again before 2200.
func (s Schedule) Next(after time.Time) (time.Time, error) {
	sp, err := parseSchedule(s.Expression)
	if err != nil {
		return time.Time{}, err
	}
	return sp.next(after.UTC())
}

// spec is a parsed schedule: a rate when period is set, else a cron.
type spec struct {
	period time.Duration
	cron   *cronSpec
}

func parseSchedule(expr string) (spec, error) {
	switch {
	case strings.HasPrefix(expr, "rate(") && strings.HasSuffix(expr, ")"):
		d, err := parseRate(expr[len("rate(") : len(expr)-1])
		if err != nil {
			return spec{}, fmt.Errorf("%w: %q: %w", ErrSchedule, expr, err)
		}
		return spec{period: d}, nil
	case strings.HasPrefix(expr, "cron(") && strings.HasSuffix(expr, ")"):
		c, err := parseCron(expr[len("cron(") : len(expr)-1])
		if err != nil {
			return spec{}, fmt.Errorf("%w: %q: %w", ErrSchedule, expr, err)
		}
		return spec{cron: c}, nil
	}
	return spec{}, fmt.Errorf("%w: %q is neither rate(...) nor cron(...)", ErrSchedule, expr)
}

// parseRate reads "5 minutes". As in EventBridge, a value of 1 takes the
// singular unit and any other value the plural.
func parseRate(s string) (time.Duration, error) {
	num, unit, ok := strings.Cut(s, " ")
	if !ok || strings.TrimSpace(num) != num || strings.TrimSpace(unit) != unit {
		return 0, fmt.Errorf("want rate(value unit)")
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || strings.HasPrefix(num, "+") {
		return 0, fmt.Errorf("value %q is not a positive whole number", num)
	}
	var d time.Duration
	switch strings.TrimSuffix(unit, "s") {
	case "minute":
		d = time.Minute
	case "hour":
		d = time.Hour
	case "day":
		d = 24 * time.Hour
	default:
		return 0, fmt.Errorf("unit %q is not minute(s), hour(s) or day(s)", unit)
	}
	plural := strings.HasSuffix(unit, "s")
	if n == 1 && plural {
		return 0, fmt.Errorf("a value of 1 takes the singular %q", strings.TrimSuffix(unit, "s"))
	}
	if n != 1 && !plural {
		return 0, fmt.Errorf("a value of %d takes the plural %q", n, unit+"s")
	}
	if int64(n) > int64(200*365*24*time.Hour/d) {
		return 0, fmt.Errorf("value %d is too large", n)
	}
	return time.Duration(n) * d, nil
}

func (sp spec) next(after time.Time) (time.Time, error) {
	if sp.period > 0 {
		period := int64(sp.period / time.Second)
		sec := after.Unix()
		k := sec / period
		if sec%period < 0 {
			k-- // floor for times before 1970
		}
		return time.Unix((k+1)*period, 0).UTC(), nil
	}
	return sp.cron.next(after)
}

// --- cron -------------------------------------------------------------------

const (
	minYear = 1970
	maxYear = 2199
)

// cronSpec holds each field as the set of values it allows; the day fields
// also carry the L, W and # forms.
type cronSpec struct {
	minutes, hours, months, years []bool
	// Exactly one of the day fields is "?" (any).
	domAny, dowAny bool
	dom            []bool // 1-31
	lastDay        bool   // L
	lastWeekday    bool   // LW
	nearestWeekday int    // the 15 of 15W
	dow            []bool // 1-7, 1 = Sunday
	lastDow        int    // the 6 of 6L: last Friday of the month
	nthDow, nth    int    // the 6 and 3 of 6#3: third Friday
}

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dayNames   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

func parseCron(s string) (*cronSpec, error) {
	f := strings.Fields(s)
	if len(f) != 6 {
		return nil, fmt.Errorf("want 6 fields (minutes hours day-of-month month day-of-week year), got %d", len(f))
	}
	c := &cronSpec{}
	var err error
	if c.minutes, err = parseField(f[0], 0, 59, nil); err != nil {
		return nil, fmt.Errorf("minutes: %w", err)
	}
	if c.hours, err = parseField(f[1], 0, 23, nil); err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	if c.months, err = parseField(f[3], 1, 12, monthNames); err != nil {
		return nil, fmt.Errorf("month: %w", err)
	}
	if c.years, err = parseField(f[5], minYear, maxYear, nil); err != nil {
		return nil, fmt.Errorf("year: %w", err)
	}
	c.domAny, c.dowAny = f[2] == "?", f[4] == "?"
	if c.domAny == c.dowAny {
		return nil, fmt.Errorf("exactly one of day-of-month and day-of-week must be ?")
	}
	if !c.domAny {
		if err := c.parseDOM(f[2]); err != nil {
			return nil, fmt.Errorf("day-of-month: %w", err)
		}
	}
	if !c.dowAny {
		if err := c.parseDOW(f[4]); err != nil {
			return nil, fmt.Errorf("day-of-week: %w", err)
		}
	}
	return c, nil
}

func (c *cronSpec) parseDOM(s string) error {
	switch {
	case s == "L":
		c.lastDay = true
		return nil
	case s == "LW":
		c.lastWeekday = true
		return nil
	case strings.HasSuffix(s, "W"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "W"))
		if err != nil || n < 1 || n > 31 {
			return fmt.Errorf("%q: W needs a single day 1-31 before it", s)
		}
		c.nearestWeekday = n
		return nil
	}
	var err error
	c.dom, err = parseField(s, 1, 31, nil)
	return err
}

func (c *cronSpec) parseDOW(s string) error {
	if s == "L" {
		c.lastDow = 7
		return nil
	}
	if day, ok := strings.CutSuffix(s, "L"); ok {
		d, err := parseValue(day, 1, 7, dayNames)
		if err != nil {
			return err
		}
		c.lastDow = d
		return nil
	}
	if day, nth, ok := strings.Cut(s, "#"); ok {
		d, err := parseValue(day, 1, 7, dayNames)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(nth)
		if err != nil || n < 1 || n > 5 {
			return fmt.Errorf("%q: # needs 1 to 5 after it", s)
		}
		c.nthDow, c.nth = d, n
		return nil
	}
	var err error
	c.dow, err = parseField(s, 1, 7, dayNames)
	return err
}

// parseField reads a comma-separated list of *, values, ranges (a-b) and
// steps (*/n, a/n, a-b/n) into the set of values it allows.
func parseField(s string, lo, hi int, names map[string]int) ([]bool, error) {
	set := make([]bool, hi+1)
	for _, item := range strings.Split(s, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%q: step must be a positive whole number", item)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = parseValue(a, lo, hi, names); err != nil {
				return nil, err
			}
			if to, err = parseValue(b, lo, hi, names); err != nil {
				return nil, err
			}
			if from > to {
				return nil, fmt.Errorf("%q: range runs backwards", item)
			}
		default:
			v, err := parseValue(rng, lo, hi, names)
			if err != nil {
				return nil, err
			}
			from = v
			if !hasStep {
				to = v
			}
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return set, nil
}

func parseValue(s string, lo, hi int, names map[string]int) (int, error) {
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("%q is not a value from %d to %d", s, lo, hi)
	}
	return v, nil
}

func (c *cronSpec) next(after time.Time) (time.Time, error) {
	t := after.Truncate(time.Minute).Add(time.Minute)
	if t.Year() < minYear {
		t = time.Date(minYear, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	for t.Year() <= maxYear {
		y, m, d := t.Date()
		switch {
		case !c.years[y]:
			t = time.Date(y+1, 1, 1, 0, 0, 0, 0, time.UTC)
		case !c.months[m]:
			t = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
		case !c.dayMatches(t):
			t = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
		default:
			for h := t.Hour(); h < 24; h++ {
				if !c.hours[h] {
					continue
				}
				first := 0
				if h == t.Hour() {
					first = t.Minute()
				}
				for mi := first; mi < 60; mi++ {
					if c.minutes[mi] {
						return time.Date(y, m, d, h, mi, 0, 0, time.UTC), nil
					}
				}
			}
			t = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
		}
	}
	return time.Time{}, ErrNoNextSchedule
}

func (c *cronSpec) dayMatches(t time.Time) bool {
	y, m, d := t.Date()
	last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
	dow := int(t.Weekday()) + 1 // 1 = Sunday
	if c.dowAny {
		switch {
		case c.lastDay:
			return d == last
		case c.lastWeekday:
			return d == nearestWeekday(y, m, last)
		case c.nearestWeekday > 0:
			return c.nearestWeekday <= last && d == nearestWeekday(y, m, c.nearestWeekday)
		}
		return c.dom[d]
	}
	switch {
	case c.lastDow > 0:
		return dow == c.lastDow && d+7 > last
	case c.nth > 0:
		return dow == c.nthDow && (d-1)/7+1 == c.nth
	}
	return c.dow[dow]
}

// nearestWeekday is the weekday closest to day d of the month, never
// crossing into another month (the W of cron).
func nearestWeekday(y int, m time.Month, d int) int {
	last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
	switch time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday() {
	case time.Saturday:
		if d == 1 {
			return 3 // Monday the 3rd
		}
		return d - 1
	case time.Sunday:
		if d == last {
			return d - 2 // Friday
		}
		return d + 1
	}
	return d
}

package cost

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/postgres"
)

// Usage is a quantity of one billable thing a job's step used.
type Usage struct {
	JobID    uuid.UUID
	Step     string
	Part     *int // nil until steps run in parts
	Attempt  int
	Service  string // lambda, s3, sqs, openai, elevenlabs
	What     string // with Service, a key of the price table
	Quantity float64
	Unit     string
	At       time.Time
}

// Store keeps usage in cost_usage.
type Store struct{ db *postgres.DB }

// NewStore returns a Store on db.
func NewStore(db *postgres.DB) *Store { return &Store{db: db} }

// Record stores us in one statement; rows of a deleted job are dropped with
// it (the insert finds no job and stores nothing).
func (s *Store) Record(ctx context.Context, us []Usage) error {
	if len(us) == 0 {
		return nil
	}
	// One row of placeholders per usage: the pooled connection's exec mode
	// cannot encode arrays of uuids.
	var (
		rows []string
		args []any
	)
	for _, u := range us {
		n := len(args)
		rows = append(rows, fmt.Sprintf("($%d::uuid, $%d, $%d::int, $%d::int, $%d, $%d, $%d::float8, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8))
		args = append(args, u.JobID, u.Step, u.Part, max(u.Attempt, 1), u.Service, u.What, u.Quantity, u.Unit)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO cost_usage (job_id, step, part, attempt, service, what, quantity, unit)
		SELECT u.job_id, u.step, u.part, u.attempt, u.service, u.what, u.quantity, u.unit
		FROM (VALUES `+strings.Join(rows, ", ")+`) AS u(job_id, step, part, attempt, service, what, quantity, unit)
		JOIN jobs ON jobs.id = u.job_id`, args...)
	if err != nil {
		return fmt.Errorf("cost: record usage of job %s: %w", us[0].JobID, err)
	}
	return nil
}

// Usages returns the usage recorded for a job, oldest first.
func (s *Store) Usages(ctx context.Context, jobID uuid.UUID) ([]Usage, error) {
	rows, err := s.db.Query(ctx, `SELECT job_id, step, part, attempt, service, what, quantity, unit, recorded_at
		FROM cost_usage WHERE job_id = $1 ORDER BY id`, jobID)
	if err != nil {
		return nil, fmt.Errorf("cost: usage of job %s: %w", jobID, err)
	}
	defer rows.Close()
	var us []Usage
	for rows.Next() {
		var (
			u    Usage
			part *int32
		)
		if err := rows.Scan(&u.JobID, &u.Step, &part, &u.Attempt, &u.Service, &u.What, &u.Quantity, &u.Unit, &u.At); err != nil {
			return nil, fmt.Errorf("cost: read usage: %w", err)
		}
		if part != nil {
			p := int(*part)
			u.Part = &p
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cost: usage of job %s: %w", jobID, err)
	}
	return us, nil
}

// Totals returns the total usage of each of jobIDs by service/what, for
// pricing a page of jobs in one query. Jobs with no usage are absent.
func (s *Store) Totals(ctx context.Context, jobIDs []uuid.UUID) (map[uuid.UUID][]Usage, error) {
	out := map[uuid.UUID][]Usage{}
	if len(jobIDs) == 0 {
		return out, nil
	}
	marks, args := make([]string, len(jobIDs)), make([]any, len(jobIDs))
	for i, id := range jobIDs {
		marks[i], args[i] = fmt.Sprintf("$%d::uuid", i+1), id
	}
	rows, err := s.db.Query(ctx, `SELECT job_id, service, what, sum(quantity), min(unit)
		FROM cost_usage WHERE job_id IN (`+strings.Join(marks, ", ")+`)
		GROUP BY job_id, service, what ORDER BY job_id, service, what`, args...)
	if err != nil {
		return nil, fmt.Errorf("cost: usage totals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u Usage
		if err := rows.Scan(&u.JobID, &u.Service, &u.What, &u.Quantity, &u.Unit); err != nil {
			return nil, fmt.Errorf("cost: read usage total: %w", err)
		}
		out[u.JobID] = append(out[u.JobID], u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cost: usage totals: %w", err)
	}
	return out, nil
}

// Disclaimer goes with every breakdown.
const Disclaimer = "An estimate at list prices (us-east-1, pay as you go) from the usage redub recorded; " +
	"free tiers, discounts, taxes, CloudWatch, data transfer and the database are not included. Your bills are the real figure."

// Item is the price of one billable thing.
type Item struct {
	Service  string  `json:"service"`
	What     string  `json:"what"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"`
	USD      float64 `json:"usd"`
}

// Breakdown is a job's (or a step's) cost.
type Breakdown struct {
	TotalUSD   float64 `json:"total_usd"`
	Items      []Item  `json:"items"`
	PricedAt   string  `json:"priced_at"` // the price table's date
	Disclaimer string  `json:"disclaimer"`
}

// Estimate sums us by service/what and prices each at p. Amounts are rounded
// to a nanodollar, and the total is the sum of the rounded items, so the
// items always add up to it. A thing the table does not price costs 0.
func Estimate(p Prices, us []Usage) Breakdown {
	type key struct{ service, what string }
	sums := map[key]*Item{}
	var order []key
	for _, u := range us {
		k := key{u.Service, u.What}
		it, ok := sums[k]
		if !ok {
			it = &Item{Service: u.Service, What: u.What, Unit: u.Unit}
			sums[k] = it
			order = append(order, k)
		}
		it.Quantity += u.Quantity
	}
	b := Breakdown{Items: []Item{}, PricedAt: p.AsOf, Disclaimer: Disclaimer}
	slices.SortFunc(order, func(a, c key) int {
		return cmp.Or(cmp.Compare(a.service, c.service), cmp.Compare(a.what, c.what))
	})
	var nanos int64
	for _, k := range order {
		it := sums[k]
		n := int64(math.Round(it.Quantity * p.Prices[k.service+"/"+k.what].USD * 1e9))
		it.USD = float64(n) / 1e9
		nanos += n
		b.Items = append(b.Items, *it)
	}
	b.TotalUSD = float64(nanos) / 1e9
	return b
}

// ByStep prices us step by step, in the order the steps first appear.
func ByStep(p Prices, us []Usage) ([]string, map[string]Breakdown) {
	var steps []string
	by := map[string][]Usage{}
	for _, u := range us {
		if _, ok := by[u.Step]; !ok {
			steps = append(steps, u.Step)
		}
		by[u.Step] = append(by[u.Step], u)
	}
	out := make(map[string]Breakdown, len(by))
	for s, list := range by {
		out[s] = Estimate(p, list)
	}
	return steps, out
}

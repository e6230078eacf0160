package cost

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Price is the list price of one unit of one billable thing.
type Price struct {
	USD    float64 `json:"usd"`    // per unit
	Unit   string  `json:"unit"`   // what the quantity counts
	Source string  `json:"source"` // where the price is published
}

// Prices is a dated price table, keyed service/what.
type Prices struct {
	AsOf   string           `json:"as_of"` // the date the prices were read, YYYY-MM-DD
	Prices map[string]Price `json:"prices"`
}

// Keys of the price table (service/what).
const (
	LambdaARM64      = "lambda/duration_arm64"
	LambdaX86        = "lambda/duration_x86_64"
	LambdaRequests   = "lambda/requests"
	S3Put            = "s3/put_requests"
	S3Get            = "s3/get_requests"
	S3Storage        = "s3/storage"
	SQSRequests      = "sqs/requests"
	OpenAITranscribe = "openai/transcribe_audio"
	OpenAIInput      = "openai/translate_input"
	OpenAIOutput     = "openai/translate_output"
	ElevenLabsChars  = "elevenlabs/tts_characters"
)

// Default returns the built-in price table: us-east-1 list prices, the
// providers' pay-as-you-go rates for the models the template configures.
func Default() Prices {
	const (
		lambda = "https://aws.amazon.com/lambda/pricing/"
		s3     = "https://aws.amazon.com/s3/pricing/"
		sqs    = "https://aws.amazon.com/sqs/pricing/"
		openai = "https://openai.com/api/pricing/"
		eleven = "https://elevenlabs.io/pricing/api"
	)
	return Prices{AsOf: "2026-12-01", Prices: map[string]Price{
		LambdaARM64:      {USD: 0.0000133334, Unit: "GB-seconds", Source: lambda},
		LambdaX86:        {USD: 0.0000166667, Unit: "GB-seconds", Source: lambda},
		LambdaRequests:   {USD: 0.20 / 1e6, Unit: "requests", Source: lambda},
		S3Put:            {USD: 0.005 / 1000, Unit: "requests", Source: s3},
		S3Get:            {USD: 0.0004 / 1000, Unit: "requests", Source: s3},
		S3Storage:        {USD: 0.023, Unit: "GB-months", Source: s3},
		SQSRequests:      {USD: 0.40 / 1e6, Unit: "requests", Source: sqs},
		OpenAITranscribe: {USD: 0.006 / 60, Unit: "seconds", Source: openai},     // whisper-1: $0.006 a minute
		OpenAIInput:      {USD: 0.15 / 1e6, Unit: "tokens", Source: openai},      // gpt-4o-mini input
		OpenAIOutput:     {USD: 0.60 / 1e6, Unit: "tokens", Source: openai},      // gpt-4o-mini output
		ElevenLabsChars:  {USD: 0.30 / 1000, Unit: "characters", Source: eleven}, // Multilingual v2, pay as you go
	}}
}

// Load returns the default table with the entries of override (PRICES_JSON:
// {"as_of": "...", "prices": {"service/what": {"usd": ..., "unit": ...}}})
// replacing its own. An empty override keeps the defaults; a malformed one,
// an unknown key, a negative price or a changed unit is an error.
func Load(override string) (Prices, error) {
	p := Default()
	if strings.TrimSpace(override) == "" {
		return p, nil
	}
	var o Prices
	if err := json.Unmarshal([]byte(override), &o); err != nil {
		return Prices{}, fmt.Errorf("cost: PRICES_JSON is not a price table: %w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(o.Prices)) {
		v, def := o.Prices[k], p.Prices[k]
		switch {
		case def.Unit == "":
			return Prices{}, fmt.Errorf("cost: PRICES_JSON prices %q, which is not a known service/what", k)
		case v.USD < 0:
			return Prices{}, fmt.Errorf("cost: PRICES_JSON gives %q a negative price", k)
		case v.Unit != "" && v.Unit != def.Unit:
			return Prices{}, fmt.Errorf("cost: PRICES_JSON prices %q in %s, want %s", k, v.Unit, def.Unit)
		}
		if v.Source == "" {
			v.Source = "PRICES_JSON"
		}
		v.Unit = def.Unit
		p.Prices[k] = v
	}
	if o.AsOf != "" {
		p.AsOf = o.AsOf
	}
	return p, nil
}

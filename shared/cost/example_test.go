package cost_test

import (
	"fmt"

	"github.com/redub/redub/shared/cost"
)

// Example_voiceoverHour prices a modelled 1-hour 1080p voiceover with the
// paid providers at the built-in list prices (docs/benchmarks.md explains
// each quantity).
func Example_voiceoverHour() {
	gbs := func(seconds, memoryMB float64) float64 { return seconds * memoryMB / 1024 }
	u := func(service, what string, q float64, unit string) cost.Usage {
		return cost.Usage{Service: service, What: what, Quantity: q, Unit: unit}
	}
	usage := []cost.Usage{
		u("lambda", "duration_arm64", gbs(60, 1024), "GB-seconds"),   // ingest: download, probe, pin
		u("lambda", "duration_arm64", gbs(1800, 3008), "GB-seconds"), // transcode: 1080p at 2x real time
		u("lambda", "duration_arm64", gbs(300, 2048), "GB-seconds"),  // transcribe: cut and upload audio, wait
		u("lambda", "duration_arm64", gbs(60, 512), "GB-seconds"),    // translate
		u("lambda", "duration_arm64", gbs(600, 1024), "GB-seconds"),  // synthesize: wait on ElevenLabs
		u("lambda", "duration_arm64", gbs(1200, 3008), "GB-seconds"), // mix: re-mux 1080p with the new track
		u("lambda", "requests", 30, "requests"),                      // 6 steps, long ones in 15-minute invocations
		u("s3", "put_requests", 1200, "requests"),                    // ~1,100 speech clips + outputs
		u("s3", "get_requests", 1300, "requests"),
		u("s3", "storage", 5.2*30/30, "GB-months"), // 2 x 2.5 GB video + speech, kept 30 days
		u("sqs", "requests", 90, "requests"),
		u("openai", "transcribe_audio", 3600, "seconds"),
		u("openai", "translate_input", 15000, "tokens"),
		u("openai", "translate_output", 15000, "tokens"),
		u("elevenlabs", "tts_characters", 54000, "characters"), // 9,000 words
	}
	b := cost.Estimate(cost.Default(), usage)
	for _, it := range b.Items {
		fmt.Printf("%-10s %-16s %10.1f %-10s $%.4f\n", it.Service, it.What, it.Quantity, it.Unit, it.USD)
	}
	fmt.Printf("total $%.2f (prices of %s)\n", b.TotalUSD, b.PricedAt)
	// Output:
	// elevenlabs tts_characters      54000.0 characters $16.2000
	// lambda     duration_arm64      10102.5 GB-seconds $0.1347
	// lambda     requests               30.0 requests   $0.0000
	// openai     transcribe_audio     3600.0 seconds    $0.3600
	// openai     translate_input     15000.0 tokens     $0.0022
	// openai     translate_output    15000.0 tokens     $0.0090
	// s3         get_requests         1300.0 requests   $0.0005
	// s3         put_requests         1200.0 requests   $0.0060
	// s3         storage                 5.2 GB-months  $0.1196
	// sqs        requests               90.0 requests   $0.0000
	// total $16.83 (prices of 2026-12-01)
}

package templatecheck_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/job"
)

// TestEveryStepHasItsPlaces fails when a step the job package knows lacks
// one of the places docs/pipeline.md ("Adding a step") lists: its function
// fed by its queue, the queue's dead-letter queue, its alarms, its queue URL
// in every function's environment and in .env.example, and the sweeper's
// watch on its dead-letter queue.
func TestEveryStepHasItsPlaces(t *testing.T) {
	t.Parallel()
	tpl := realTemplate(t)
	envExample, err := os.ReadFile(filepath.Join("..", "..", ".env.example"))
	require.NoError(t, err)
	globals := fmt.Sprint(tpl.Section("Globals"))
	sweeper := fmt.Sprint(tpl.Resource("SweeperFunction"))
	steps := append([]string{job.StepIngest}, job.Steps(job.Voiceover, job.Params{TargetLanguage: "es"})...)
	for _, step := range steps {
		id := strings.ToUpper(step[:1]) + step[1:]
		t.Run(step, func(t *testing.T) {
			for _, r := range []string{id + "Function", id + "Queue", id + "DeadLetterQueue", id + "ErrorsAlarm", id + "DurationAlarm"} {
				require.NotNil(t, tpl.Resource(r), "template.yaml has no %s", r)
			}
			events := fmt.Sprint(tpl.FunctionProperties(id + "Function")["Events"])
			require.Contains(t, events, id+"Queue", "%sFunction is not fed by %sQueue", id, id)
			require.Contains(t, fmt.Sprint(tpl.Properties(id + "Queue")["RedrivePolicy"]), id+"DeadLetterQueue")
			variable := strings.ToUpper(step) + "_QUEUE_URL"
			require.Contains(t, globals, variable, "Globals does not give every function %s", variable)
			require.Contains(t, string(envExample), "\n"+variable+"=", ".env.example does not document %s", variable)
			require.Contains(t, sweeper, id+"DeadLetterQueue", "the sweeper does not watch %sDeadLetterQueue", id)
		})
	}
}

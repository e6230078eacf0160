package job_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOnlyTheOwnersWriteTheirTables fails when a package other than a
// table's owner writes it: jobs, job_steps, outputs, job_parts, job_events,
// job_revisions and job_segment_edits belong to shared/job, assets and upload_usage to shared/asset,
// cost_usage to shared/cost, the webhook tables to shared/webhook. Tests may seed and inspect rows as they like.
func TestOnlyTheOwnersWriteTheirTables(t *testing.T) {
	t.Parallel()
	owners := map[string]string{"jobs": "shared/job", "job_steps": "shared/job", "outputs": "shared/job", "job_parts": "shared/job",
		"job_events": "shared/job", "job_revisions": "shared/job", "job_segment_edits": "shared/job",
		"assets": "shared/asset", "upload_usage": "shared/asset", "cost_usage": "shared/cost",
		"webhooks": "shared/webhook", "webhook_deliveries": "shared/webhook", "webhook_attempts": "shared/webhook"}
	write := regexp.MustCompile(`(?i)\b(?:UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+(jobs|job_steps|outputs|job_parts|job_events|job_revisions|job_segment_edits|assets|upload_usage|cost_usage|webhooks|webhook_deliveries|webhook_attempts)\b`)
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	var offenders []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || rel == "migrations" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range write.FindAllStringSubmatch(string(b), -1) {
			if owner := owners[strings.ToLower(m[1])]; filepath.Dir(rel) != owner {
				offenders = append(offenders, rel+": "+m[0])
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Empty(t, offenders, "only a table's owning package writes it; ask its store instead")
}

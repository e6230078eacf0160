package main

import (
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/lambdarun"
)

func TestColdStartNamesTheMissingVariable(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"STAGE": "development", "STORAGE_BUCKET": "redub-test", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"DATABASE_URL":          "postgres://redub@127.0.0.1:1/redub",
		"DATABASE_URL_UNPOOLED": "postgres://redub@127.0.0.1:2/redub",
		"BACKUP_BUCKET":         "redub-backups",
	}
	for _, name := range []string{"BACKUP_BUCKET", "DATABASE_URL_UNPOOLED"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string {
				if k == name {
					return ""
				}
				return base[k]
			}
			_, _, err := lambdarun.Build(t.Context(), "backup", getenv, io.Discard, setup)
			var ve *config.VarError
			require.True(t, errors.As(err, &ve), "%v", err)
			require.Equal(t, name, ve.Name)
		})
	}
	t.Run("BACKUP_BUCKET typo", func(t *testing.T) {
		t.Parallel()
		getenv := func(k string) string {
			if k == "BACKUP_BUCKET" {
				return "Redub_Backups"
			}
			return base[k]
		}
		_, _, err := lambdarun.Build(t.Context(), "backup", getenv, io.Discard, setup)
		var ve *config.VarError
		require.True(t, errors.As(err, &ve), "%v", err)
		require.Equal(t, "BACKUP_BUCKET", ve.Name)
		require.Contains(t, ve.Reason, "not an S3 bucket name")
	})
	_, h, err := lambdarun.Build(t.Context(), "backup", func(k string) string { return base[k] }, io.Discard, setup)
	require.NoError(t, err)
	require.IsType(t, lambdarun.ScheduledHandler(nil), h)
}

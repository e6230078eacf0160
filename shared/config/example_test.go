package config_test

import (
	"context"
	"fmt"

	"github.com/redub/redub/shared/config"
)

func ExampleLoad() {
	env := map[string]string{
		"STAGE":          "development",
		"DATABASE_URL":   "postgres://redub:secret@localhost:6432/redub",
		"STORAGE_BUCKET": "redub-dev",
	}
	c, err := config.Load(context.Background(), func(name string) string { return env[name] }, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Stage, c.StorageRegion, c.LogLevel)
	fmt.Println(c.Redacted()["DATABASE_URL"])
	// Output:
	// development us-east-1 info
	// postgres://redub:xxxxx@localhost:6432/redub
}

func ExampleLoad_errors() {
	env := map[string]string{
		"STAGE":          "production",
		"DATABASE_URL":   "postgres://redub:p/ss@db/redub",
		"AUTH_URL":       "https://redub.example",
		"STORAGE_BUCKET": "redub-production",
	}
	_, err := config.Load(context.Background(), func(name string) string { return env[name] }, nil)
	fmt.Println(err)
	// Output:
	// config: DATABASE_URL is not a valid postgres URL: it does not parse as a URL (percent-encode special characters in the user name and password)
	// config: AUTH_SECRET is required when STAGE=production (set it or NEXTAUTH_SECRET, or set SECRETS_SSM_PATH=/redub/production/ and create the SSM parameter /redub/production/AUTH_SECRET)
	// config: GOOGLE_CLIENT_ID is required when STAGE=production (set it, or set SECRETS_SSM_PATH=/redub/production/ and create the SSM parameter /redub/production/GOOGLE_CLIENT_ID)
	// config: GOOGLE_CLIENT_SECRET is required when STAGE=production (set it, or set SECRETS_SSM_PATH=/redub/production/ and create the SSM parameter /redub/production/GOOGLE_CLIENT_SECRET)
}

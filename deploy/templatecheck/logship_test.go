package templatecheck_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/deploy/templatecheck"
)

// refName returns the logical id of a {"Ref": id} value.
func refName(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["Ref"].(string)
	return s
}

// TestEveryFunctionsLogsAreShipped: each function's log group, but the
// shipper's own (which would loop), has a subscription filter to the
// shipper, present only when LogShipDestination is set.
func TestEveryFunctionsLogsAreShipped(t *testing.T) {
	t.Parallel()
	tpl := realTemplate(t)
	subscribed := map[string]bool{}
	for _, id := range tpl.IDs("AWS::Logs::SubscriptionFilter") {
		props := tpl.Properties(id)
		require.Equal(t, "LogShipperFunction.Alias", refName(props["DestinationArn"]), id)
		require.Contains(t, []any{"ShipsLogs", "ShipsDevLoginLogs"}, tpl.Resource(id)["Condition"], id)
		subscribed[refName(props["LogGroupName"])] = true
	}
	for _, fn := range tpl.IDs(templatecheck.TypeFunction) {
		cfg, _ := tpl.FunctionProperties(fn)["LoggingConfig"].(map[string]any)
		group := refName(cfg["LogGroup"])
		require.NotEmpty(t, group, "%s has no log group of its own", fn)
		if fn == "LogShipperFunction" {
			require.False(t, subscribed[group], "the shipper must not ship its own lines (a loop)")
			continue
		}
		require.True(t, subscribed[group], "%s's log group %s has no LogShipping subscription filter", fn, group)
	}
}

package template

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMergeGlobalsIsSAMs(t *testing.T) {
	t.Parallel()
	global := map[string]any{
		"Environment": map[string]any{"Variables": map[string]any{"A": "g", "B": "g"}},
		"Layers":      []any{"L1"},
		"Timeout":     30.0,
		"Tags":        map[string]any{"team": "g"},
	}
	local := map[string]any{
		"Environment": map[string]any{"Variables": map[string]any{"B": "f"}},
		"Layers":      []any{"L2"},
		"Timeout":     nil, // AWS::NoValue: the function removes the property
		"Tags":        map[string]any{"Fn::If": []any{"C", map[string]any{"x": "1"}, map[string]any{"Ref": "AWS::NoValue"}}},
	}
	got := MergeGlobals(global, local)
	require.Equal(t, map[string]any{
		"Environment": map[string]any{"Variables": map[string]any{"A": "g", "B": "f"}},
		"Layers":      []any{"L1", "L2"},
		"Timeout":     nil,
		"Tags":        local["Tags"], // an intrinsic is one value, not a map to merge into
	}, got)
	got.(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)["A"] = "edited"
	require.Equal(t, "g", global["Environment"].(map[string]any)["Variables"].(map[string]any)["A"], "the result shares nothing with global")
}

func TestEvaluatorLeavesResourcesAsWritten(t *testing.T) {
	t.Parallel()
	raw, err := ExpandYAML([]byte(`
Parameters:
  Stage: {Type: String, Default: development}
Mappings:
  ByStage: {production: {Memory: 1024}, development: {Memory: 128}}
Conditions:
  IsProduction: !Equals [!Ref Stage, production]
  NotProduction: !Not [!Condition IsProduction]
Resources:
  Q: {Type: AWS::SQS::Queue}
`))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))

	ev := NewEvaluator(doc, map[string]any{"Stage": "production"})
	v, err := ev.Condition("NotProduction")
	require.NoError(t, err)
	require.False(t, v)
	_, err = ev.Condition("Missing")
	require.ErrorIs(t, err, ErrDangling)

	got, err := ev.Resolve(map[string]any{
		"Queue":  map[string]any{"Fn::GetAtt": []any{"Q", "Arn"}},
		"Region": map[string]any{"Ref": "AWS::Region"},
		"Memory": map[string]any{"Fn::FindInMap": []any{"ByStage", map[string]any{"Ref": "Stage"}, "Memory"}},
		"Gone":   map[string]any{"Fn::If": []any{"IsProduction", map[string]any{"Ref": "AWS::NoValue"}, "kept"}},
		"List":   []any{"a", map[string]any{"Fn::If": []any{"NotProduction", "b", map[string]any{"Ref": "AWS::NoValue"}}}},
		"Sub":    map[string]any{"Fn::Sub": "${Q}-${Stage}"},
	})
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"Queue":  map[string]any{"Fn::GetAtt": []any{"Q", "Arn"}},
		"Region": map[string]any{"Ref": "AWS::Region"},
		"Memory": 1024.0,
		"List":   []any{"a"},
		"Sub":    map[string]any{"Fn::Sub": "${Q}-${Stage}"},
	}, got)
}

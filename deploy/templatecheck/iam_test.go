package templatecheck

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWildResource(t *testing.T) {
	t.Parallel()
	sub := func(s string) any { return map[string]any{"Fn::Sub": s} }
	tests := []struct {
		resource any
		wild     bool
	}{
		{"*", true},
		{"arn:aws:s3:::media/*", true},
		{"arn:aws:s3:::media-*/uploads/x", true},
		{"arn:aws:s3:::media/uploads/*", false},
		{"arn:aws:lambda:us-east-1:123456789012:function:*", true},
		{"arn:aws:sqs:*:123456789012:jobs", true},
		{"arn:aws:sqs:us-east-1:123456789012:jobs", false},
		{sub("${MediaBucket.Arn}/*"), true},
		{sub("${MediaBucket.Arn}*"), true},
		{sub("${MediaBucket.Arn}/jobs/*"), false},
		{sub("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/redub/${Stage}/"), false},
		{sub("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/*"), true},
		{sub("arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:*"), true},
		{map[string]any{"Fn::GetAtt": "MixQueue.Arn"}, false},
		{map[string]any{"Fn::If": []any{"IsProduction", "*", map[string]any{"Ref": "Topic"}}}, true},
	}
	for _, tt := range tests {
		wild, known := wildResource(tt.resource)
		require.True(t, known, "%s", compact(tt.resource))
		require.Equal(t, tt.wild, wild, "%s", compact(tt.resource))
	}
	_, known := wildResource(map[string]any{"Fn::ImportValue": "shared-bucket-arn"})
	require.False(t, known, "an import cannot be read")
}

package s3

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// vgwPost is the body of one webhook post from versitygw v1.8.0: either
// {"Records":[...]} or, once at start-up, its test event
// {"Service":"S3","Event":"s3:TestEvent","Time":...,"Bucket":"Test-Bucket"}.
type vgwPost struct {
	Records []vgwRecord `json:"Records"`
	Event   string      `json:"Event"`
}

// vgwRecord is one record as versitygw writes it (s3event.EventRecord).
type vgwRecord struct {
	EventVersion string `json:"eventVersion"`
	AwsRegion    string `json:"awsRegion"`
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	UserIdentity struct {
		PrincipalID string `json:"PrincipalId"`
	} `json:"userIdentity"`
	RequestParameters struct {
		SourceIPAddress string `json:"sourceIPAddress"`
	} `json:"requestParameters"`
	ResponseElements struct {
		RequestID string `json:"x-amz-request-id"`
		HostID    string `json:"x-amz-id-2"`
	} `json:"responseElements"`
	S3 struct {
		Bucket struct {
			Name          string `json:"name"`
			OwnerIdentity struct {
				PrincipalID string `json:"PrincipalId"`
			} `json:"ownerIdentity"`
		} `json:"bucket"`
		Object struct {
			Key       string  `json:"key"`
			Size      int64   `json:"size"`
			ETag      *string `json:"eTag"`
			VersionID *string `json:"versionId"`
			Sequencer string  `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

const testEventName = "s3:TestEvent"

// normalize turns a versitygw record into an AWS one, except for
// s3.configurationId, which depends on the route. It returns the record and
// versitygw's own sequence number (ok is false when it could not be read).
// The object key of the result is URL-encoded; the raw key is in
// S3.Object.URLDecodedKey.
func normalize(in vgwRecord, region string, now time.Time) (rec events.S3EventRecord, vgwSeq uint64, ok bool) {
	if region == "" {
		region = in.AwsRegion
	}
	bucket := in.S3.Bucket.Name
	key := in.S3.Object.Key
	rec = events.S3EventRecord{
		EventVersion: "2.1",
		EventSource:  "aws:s3",
		AWSRegion:    region,
		// versitygw stamps whole seconds in the server's zone; the arrival
		// time is within milliseconds of it and carries AWS's precision.
		EventTime:         now.UTC().Truncate(time.Millisecond),
		EventName:         eventName(in.EventName),
		PrincipalID:       events.S3UserIdentity{PrincipalID: in.UserIdentity.PrincipalID},
		RequestParameters: events.S3RequestParameters{SourceIPAddress: in.RequestParameters.SourceIPAddress},
		ResponseElements: map[string]string{
			// versitygw reads these from the request headers, where they
			// never are, so they arrive empty.
			"x-amz-request-id": orElse(in.ResponseElements.RequestID, newRequestID),
			"x-amz-id-2":       orElse(in.ResponseElements.HostID, newHostID),
		},
		S3: events.S3Entity{
			SchemaVersion: "1.0",
			Bucket: events.S3Bucket{
				Name:          bucket,
				OwnerIdentity: events.S3UserIdentity{PrincipalID: in.S3.Bucket.OwnerIdentity.PrincipalID},
				Arn:           "arn:aws:s3:::" + bucket,
			},
			Object: events.S3Object{
				Key:           encodeKey(key),
				URLDecodedKey: key,
				Size:          in.S3.Object.Size,
				ETag:          strings.Trim(deref(in.S3.Object.ETag), `"`),
				VersionID:     versionID(deref(in.S3.Object.VersionID)),
			},
		},
	}
	vgwSeq, err := strconv.ParseUint(in.S3.Object.Sequencer, 16, 64)
	return rec, vgwSeq, err == nil
}

// eventName maps versitygw's event type to the eventName S3 writes: without
// the "s3:" prefix, and with versitygw's own "ObjectRemoved:DeleteObjects"
// (one record per key of a DeleteObjects call) reported as the
// "ObjectRemoved:Delete" that S3 sends for each of those keys. A name S3
// never sends ("s3:s3:...") loses every prefix, so no record that reaches
// the functions carries one.
func eventName(vgw string) string {
	name := vgw
	for strings.HasPrefix(name, "s3:") {
		name = strings.TrimPrefix(name, "s3:")
	}
	if name == "ObjectRemoved:DeleteObjects" {
		return "ObjectRemoved:Delete"
	}
	return name
}

// versionID drops the empty and "null" version ids that versitygw reports
// for unversioned buckets; S3 leaves the field out there.
func versionID(v string) string {
	if v == "null" {
		return ""
	}
	return v
}

// encodeKey encodes an object key the way S3 writes it into events: as an
// application/x-www-form-urlencoded value (space as '+', '+' as %2B, UTF-8
// percent-encoded), except that '/' stays as it is.
func encodeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.QueryEscape(p)
	}
	return strings.Join(parts, "/")
}

// sequencer builds the hex sequencer of an event: the relay's epoch (Unix
// milliseconds, 11 digits) followed by versitygw's per-process event counter
// (at least 7 digits). The fixed widths make string order equal event order;
// the epoch moves on whenever versitygw restarts (and its counter with it
// starts from 1 again), so sequencers keep increasing for every key.
func sequencer(epochMillis int64, seq uint64) string {
	return fmt.Sprintf("%011X%07X", epochMillis, seq)
}

// matchesEvent reports whether an S3 event name ("ObjectCreated:Put") matches
// one of a notification's event types ("s3:ObjectCreated:*",
// "s3:ObjectCreated:Put"; the "s3:" prefix may be left out).
func matchesEvent(patterns []string, name string) bool {
	for _, p := range patterns {
		p = strings.TrimPrefix(p, "s3:")
		if p == name {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// wireEvent is an S3 event exactly as S3 sends it. events.S3EventRecord
// carries the data, but marshalling it as it is differs from S3 in three
// places: eventTime loses trailing zeros of its milliseconds, the object
// gains a "urlDecodedKey" field, and size is left out when it is 0. The
// shallower fields here take their place.
type wireEvent struct {
	Records []wireRecord `json:"Records"`
}

type wireRecord struct {
	events.S3EventRecord
	EventTime string     `json:"eventTime"`
	S3        wireEntity `json:"s3"`
}

type wireEntity struct {
	SchemaVersion   string          `json:"s3SchemaVersion"`
	ConfigurationID string          `json:"configurationId"`
	Bucket          events.S3Bucket `json:"bucket"`
	Object          wireObject      `json:"object"`
}

type wireObject struct {
	Key       string `json:"key"`
	Size      *int64 `json:"size,omitempty"`
	ETag      string `json:"eTag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	Sequencer string `json:"sequencer"`
}

// marshalEvent encodes one record as the {"Records":[...]} document S3
// delivers to a queue or a function.
func marshalEvent(rec events.S3EventRecord) ([]byte, error) {
	o := rec.S3.Object
	w := wireRecord{
		S3EventRecord: rec,
		EventTime:     rec.EventTime.UTC().Format("2006-01-02T15:04:05.000Z"),
		S3: wireEntity{
			SchemaVersion:   rec.S3.SchemaVersion,
			ConfigurationID: rec.S3.ConfigurationID,
			Bucket:          rec.S3.Bucket,
			Object:          wireObject{Key: o.Key, ETag: o.ETag, VersionID: o.VersionID, Sequencer: o.Sequencer},
		},
	}
	if strings.HasPrefix(rec.EventName, "ObjectCreated:") {
		w.S3.Object.Size = &o.Size // S3 reports size 0 for an empty object and no size for deletes
	}
	b, err := json.Marshal(wireEvent{Records: []wireRecord{w}})
	if err != nil {
		return nil, fmt.Errorf("marshal s3 event: %w", err)
	}
	return b, nil
}

// newRequestID returns an id shaped like S3's x-amz-request-id.
func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return strings.ToUpper(hex.EncodeToString(b))
}

// newHostID returns an id shaped like S3's x-amz-id-2.
func newHostID() string {
	b := make([]byte, 57)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func orElse(s string, f func() string) string {
	if s != "" {
		return s
	}
	return f()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

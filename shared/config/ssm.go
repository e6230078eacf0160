package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// SSMClient makes SSM's one call the config needs, GetParameters, as a
// SigV4-signed request to SSM's JSON API. It stands in for the SDK's SSM
// client, whose code tables would add about a megabyte to every function.
type SSMClient struct {
	HTTP        *http.Client            // default: a client with a 10 s timeout
	Region      string                  // e.g. us-east-1
	Endpoint    string                  // default https://ssm.<region>.amazonaws.com (AWS_ENDPOINT_URL_SSM for others)
	Credentials aws.CredentialsProvider // Lambda's role credentials
	Now         func() time.Time
}

// ssmBatch is the most names GetParameters takes in one call.
const ssmBatch = 10

// NewSSMStore returns a ParameterStore backed by SSM Parameter Store. It asks
// for the named parameters under a path with GetParameters, which IAM
// authorises parameter by parameter (so a function's policy can name exactly
// the parameters it reads), ten names a call, decrypting SecureStrings. Its
// Parameters returns the first SSM error, naming SSM's error type and message.
func NewSSMStore(c SSMClient) ParameterStore {
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Endpoint == "" {
		c.Endpoint = "https://ssm." + c.Region + ".amazonaws.com"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return ssmStore{c: c}
}

type ssmStore struct{ c SSMClient }

type ssmRequest struct {
	Names          []string `json:"Names"`
	WithDecryption bool     `json:"WithDecryption"`
}

type ssmResponse struct {
	Parameters []struct {
		Name  string `json:"Name"`
		Value string `json:"Value"`
	} `json:"Parameters"`
	InvalidParameters []string `json:"InvalidParameters"`
}

// SSMError is an error answer from SSM.
type SSMError struct {
	Status  int
	Type    string
	Message string
}

func (e *SSMError) Error() string {
	return fmt.Sprintf("ssm get parameters: %s (%d): %s", e.Type, e.Status, e.Message)
}

func (s ssmStore) Parameters(ctx context.Context, path string, names []string) (map[string]string, error) {
	values := make(map[string]string)
	for start := 0; start < len(names); start += ssmBatch {
		batch := names[start:min(start+ssmBatch, len(names))]
		full := make([]string, len(batch))
		for i, n := range batch {
			full[i] = path + n
		}
		page, err := s.call(ctx, ssmRequest{Names: full, WithDecryption: true})
		if err != nil {
			return nil, err
		}
		for _, p := range page.Parameters {
			if name, ok := strings.CutPrefix(p.Name, path); ok && !strings.Contains(name, "/") {
				values[name] = p.Value
			}
		}
	}
	return values, nil
}

func (s ssmStore) call(ctx context.Context, in ssmRequest) (ssmResponse, error) {
	var out ssmResponse
	body, err := json.Marshal(in)
	if err != nil {
		return out, fmt.Errorf("ssm get parameters: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.c.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return out, fmt.Errorf("ssm get parameters: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetParameters")
	if s.c.Credentials == nil {
		return out, fmt.Errorf("ssm get parameters: no AWS credentials")
	}
	creds, err := s.c.Credentials.Retrieve(ctx)
	if err != nil {
		return out, fmt.Errorf("ssm get parameters: credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ssm", s.c.Region, s.c.Now()); err != nil {
		return out, fmt.Errorf("ssm get parameters: sign: %w", err)
	}
	res, err := s.c.HTTP.Do(req)
	if err != nil {
		return out, fmt.Errorf("ssm get parameters: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return out, fmt.Errorf("ssm get parameters: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		if i := strings.LastIndex(e.Type, "#"); i >= 0 {
			e.Type = e.Type[i+1:]
		}
		return out, &SSMError{Status: res.StatusCode, Type: e.Type, Message: e.Message}
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("ssm get parameters: decode answer: %w", err)
	}
	return out, nil
}

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

// SSMClient makes SSM's one call the config needs, GetParametersByPath,
// as a SigV4-signed request to SSM's JSON API. It stands in for the SDK's
// SSM client, whose code tables would add about a megabyte to every function.
type SSMClient struct {
	HTTP        *http.Client            // default: a client with a 10 s timeout
	Region      string                  // e.g. us-east-1
	Endpoint    string                  // default https://ssm.<region>.amazonaws.com (AWS_ENDPOINT_URL_SSM for others)
	Credentials aws.CredentialsProvider // Lambda's role credentials
	Now         func() time.Time
}

// NewSSMStore returns a ParameterStore backed by SSM Parameter Store. It reads
// the parameters directly under a path (not recursively), decrypting
// SecureStrings and following every page. Its ParametersByPath returns the
// first SSM error, naming SSM's error type and message.
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
	Path           string `json:"Path"`
	Recursive      bool   `json:"Recursive"`
	WithDecryption bool   `json:"WithDecryption"`
	NextToken      string `json:"NextToken,omitempty"`
}

type ssmResponse struct {
	Parameters []struct {
		Name  string `json:"Name"`
		Value string `json:"Value"`
	} `json:"Parameters"`
	NextToken string `json:"NextToken"`
}

// SSMError is an error answer from SSM.
type SSMError struct {
	Status  int
	Type    string
	Message string
}

func (e *SSMError) Error() string {
	return fmt.Sprintf("ssm get parameters by path: %s (%d): %s", e.Type, e.Status, e.Message)
}

func (s ssmStore) ParametersByPath(ctx context.Context, path string) (map[string]string, error) {
	values := make(map[string]string)
	token := ""
	for {
		page, err := s.page(ctx, ssmRequest{Path: path, WithDecryption: true, NextToken: token})
		if err != nil {
			return nil, err
		}
		for _, p := range page.Parameters {
			values[p.Name[strings.LastIndex(p.Name, "/")+1:]] = p.Value
		}
		if page.NextToken == "" {
			return values, nil
		}
		token = page.NextToken
	}
}

func (s ssmStore) page(ctx context.Context, in ssmRequest) (ssmResponse, error) {
	var out ssmResponse
	body, err := json.Marshal(in)
	if err != nil {
		return out, fmt.Errorf("ssm get parameters by path: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.c.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return out, fmt.Errorf("ssm get parameters by path: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetParametersByPath")
	if s.c.Credentials == nil {
		return out, fmt.Errorf("ssm get parameters by path: no AWS credentials")
	}
	creds, err := s.c.Credentials.Retrieve(ctx)
	if err != nil {
		return out, fmt.Errorf("ssm get parameters by path: credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ssm", s.c.Region, s.c.Now()); err != nil {
		return out, fmt.Errorf("ssm get parameters by path: sign: %w", err)
	}
	res, err := s.c.HTTP.Do(req)
	if err != nil {
		return out, fmt.Errorf("ssm get parameters by path: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return out, fmt.Errorf("ssm get parameters by path: %w", err)
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
		return out, fmt.Errorf("ssm get parameters by path: decode answer: %w", err)
	}
	return out, nil
}

package elevenlabs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/redub/redub/shared/provider"
)

// AddVoice makes an instant voice clone (POST /v1/voices/add) from the
// sample files and returns its voice id. The caller must hold the right to
// clone the voice (ElevenLabs' terms); the API asks the user for consent.
func (c *Client) AddVoice(ctx context.Context, name string, samples []string) (string, error) {
	if c.apiKey == "" {
		return "", ErrNoKey
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("name", name); err != nil {
		return "", fmt.Errorf("add voice: %w", err)
	}
	if err := mw.WriteField("remove_background_noise", "true"); err != nil {
		return "", fmt.Errorf("add voice: %w", err)
	}
	for _, p := range samples {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("add voice: %w", err)
		}
		part, err := mw.CreateFormFile("files", filepath.Base(p))
		if err != nil {
			return "", fmt.Errorf("add voice: %w", err)
		}
		if _, err := part.Write(b); err != nil {
			return "", fmt.Errorf("add voice: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return "", fmt.Errorf("add voice: %w", err)
	}
	body := buf.Bytes()
	resp, err := provider.Do(ctx, c.http, c.Policy, func() (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/v1/voices/add", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		r.Header.Set("xi-api-key", c.apiKey)
		r.Header.Set("Content-Type", mw.FormDataContentType())
		return r, nil
	})
	if err != nil {
		return "", fmt.Errorf("add voice %q: %w", name, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var v struct {
		VoiceID string `json:"voice_id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil || v.VoiceID == "" {
		return "", fmt.Errorf("add voice %q: %w", name,
			&provider.Error{Provider: providerName, KeyVar: KeyVar, Status: resp.StatusCode, Code: "invalid_answer", Message: "the answer has no voice_id"})
	}
	return v.VoiceID, nil
}

// DeleteVoice removes a voice (DELETE /v1/voices/{voice_id}). A voice that is
// already gone (404) is not an error.
func (c *Client) DeleteVoice(ctx context.Context, voiceID string) error {
	if c.apiKey == "" {
		return ErrNoKey
	}
	resp, err := provider.Do(ctx, c.http, c.Policy, func() (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.baseURL+"/v1/voices/"+url.PathEscape(voiceID), nil)
		if err != nil {
			return nil, err
		}
		r.Header.Set("xi-api-key", c.apiKey)
		return r, nil
	})
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("delete voice %s: %w", voiceID, err)
	}
	_ = resp.Body.Close()
	return nil
}

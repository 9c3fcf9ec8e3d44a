package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// This file is a tiny client of the API for end-to-end tests and load tools.

// HTTPError is a non-2xx answer of the API, with the spec's error fields.
type HTTPError struct {
	Status  int
	Message string
	Subcode string
	Errors  map[string][]string
	Body    []byte // the raw body
}

// Error says the status, message and subcode.
func (e *HTTPError) Error() string {
	if e.Subcode != "" {
		return fmt.Sprintf("api: HTTP %d: %s (%s)", e.Status, e.Message, e.Subcode)
	}
	return fmt.Sprintf("api: HTTP %d: %s", e.Status, e.Message)
}

// maxClientBody bounds what the client reads of a response.
const maxClientBody = 64 << 20

// Login gets an access token with the password grant.
func Login(ctx context.Context, baseURL, email, password string) (token string, err error) {
	var resp tokenResponse
	body := map[string]string{"grant_type": "password", "username": email, "password": password, "scope": DefaultScope}
	if err := PostJSON(ctx, baseURL, "", "/auth/", body, &resp); err != nil {
		return "", err
	}
	if resp.AccessToken == "" {
		return "", fmt.Errorf("api: login: no access token in the answer")
	}
	return resp.AccessToken, nil
}

// GetJSON GETs path (relative to baseURL) with the bearer token (none when
// empty) and decodes the JSON answer into out (skipped when out is nil).
func GetJSON(ctx context.Context, baseURL, token, path string, out any) error {
	return DoJSON(ctx, http.MethodGet, baseURL, token, path, nil, out)
}

// PostJSON POSTs body as JSON and decodes the answer into out.
func PostJSON(ctx context.Context, baseURL, token, path string, body, out any) error {
	return DoJSON(ctx, http.MethodPost, baseURL, token, path, body, out)
}

// DoJSON sends a request with an optional JSON body (nil: none) and decodes a
// 2xx answer into out; any other status is an *HTTPError.
func DoJSON(ctx context.Context, method, baseURL, token, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("api: encode body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(baseURL, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxClientBody))
	if err != nil {
		return fmt.Errorf("api: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		he := &HTTPError{Status: resp.StatusCode, Body: data}
		var eb struct {
			Message string              `json:"message"`
			Subcode string              `json:"subcode"`
			Errors  map[string][]string `json:"errors"`
		}
		if json.Unmarshal(data, &eb) == nil {
			he.Message, he.Subcode, he.Errors = eb.Message, eb.Subcode, eb.Errors
		}
		return he
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("api: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

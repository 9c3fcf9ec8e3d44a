package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Body is the document pushed for a station.
type Body struct {
	Status int   `json:"status"` // 0 online, 2 no connection, 3 data cannot be received, 5 login error, 6 unknown error
	Time   int64 `json:"time"`   // Unix time of the status
	// ReceivedFromCloud is the Unix time of the register's last good answer
	// (the document marks the field optional and does not define it; this is
	// vendgate's reading). Omitted when the register never answered.
	ReceivedFromCloud *int64 `json:"received_from_cloud,omitempty"`
	// CloudOnline says whether the register answered its last request.
	CloudOnline *bool `json:"cloud_online,omitempty"`
}

// Valid statuses of Body.Status.
var validStatus = map[int]bool{0: true, 2: true, 3: true, 5: true, 6: true}

// ValidStatus reports whether s is a Petrosoft monitoring status code.
func ValidStatus(s int) bool { return validStatus[s] }

// Errors of Client.Push.
var (
	ErrRejected  = errors.New("push: rejected by the monitoring API")
	ErrTransport = errors.New("push: monitoring API unreachable")
)

// PushError is a push the monitoring API did not accept.
type PushError struct {
	Station string
	Code    int    // HTTP status; 0 when there was no answer
	Body    string // the start of the answer
	Err     error  // ErrRejected or ErrTransport
	Cause   error  // the transport error, if any
}

func (e *PushError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%v: station %s: %v", e.Err, e.Station, e.Cause)
	}
	return fmt.Sprintf("%v: station %s: HTTP %d %.200q", e.Err, e.Station, e.Code, e.Body)
}

func (e *PushError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// Client pushes statuses.
type Client struct {
	// URL is the push endpoint. "{stationId}" in it is replaced by the station;
	// without it the station is appended as the last path segment.
	URL   string
	Token string       // Bearer token
	HTTP  *http.Client // default: a client with Timeout
	// Timeout bounds one push (default 10 s).
	Timeout time.Duration
}

// URLFor is the push URL of a station.
func (c *Client) URLFor(station string) string {
	esc := url.PathEscape(station)
	if strings.Contains(c.URL, "{stationId}") {
		return strings.ReplaceAll(c.URL, "{stationId}", esc)
	}
	return strings.TrimRight(c.URL, "/") + "/" + esc
}

// Push sends one document (JSON, usually a marshalled Body) for station.
func (c *Client) Push(ctx context.Context, station string, doc []byte) error {
	to := c.Timeout
	if to <= 0 {
		to = 10 * time.Second
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URLFor(station), bytes.NewReader(doc))
	if err != nil {
		return &PushError{Station: station, Err: ErrTransport, Cause: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return &PushError{Station: station, Err: ErrTransport, Cause: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || !Accepted(raw) {
		return &PushError{Station: station, Code: resp.StatusCode, Body: string(raw), Err: ErrRejected}
	}
	return nil
}

// Accepted reports whether an answer body says the push was taken: a JSON
// object with "status": true and "success": true.
func Accepted(body []byte) bool {
	var a struct {
		Status  *bool `json:"status"`
		Success *bool `json:"success"`
	}
	if json.Unmarshal(body, &a) != nil {
		return false
	}
	return a.Status != nil && *a.Status && a.Success != nil && *a.Success
}

package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/flowwatch/flowwatch/internal/api"
)

// client is what the demo needs of flowwatch's JSON API: it applies and
// runs the monitor the way `flowwatch monitor apply` and `monitor run`
// would.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) *client {
	return &client{base: base, http: &http.Client{Timeout: 30 * time.Second}}
}

// maxAnswerBytes bounds what is read of one answer.
const maxAnswerBytes = 16 << 20

// do sends a request to the API and decodes an answer with one of the
// statuses want into out; any other status becomes an error with the
// server's message.
func (c *client) do(ctx context.Context, method, path, contentType string, body []byte, out any, want ...int) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/api/v1/"+path, rd)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("%s /api/v1/%s: %w", method, path, err)
	}
	if !slices.Contains(want, res.StatusCode) {
		var e api.ErrorBody
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s /api/v1/%s: %s: %s", method, path, res.Status, e.Error)
		}
		return fmt.Errorf("%s /api/v1/%s: %s", method, path, res.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s /api/v1/%s: the answer does not decode: %w", method, path, err)
	}
	return nil
}

// putMonitor creates or replaces a monitor from its YAML.
func (c *client) putMonitor(ctx context.Context, name, yaml string) error {
	// 201 creates it, 200 replaces an earlier demo's.
	return c.do(ctx, http.MethodPut, "monitors/"+url.PathEscape(name), "application/yaml", []byte(yaml), nil, http.StatusCreated, http.StatusOK)
}

// createRun asks for a run of the monitor over the window it reads now.
func (c *client) createRun(ctx context.Context, name string) (api.Run, error) {
	var out api.CreatedRun
	err := c.do(ctx, http.MethodPost, "monitors/"+url.PathEscape(name)+"/runs", "", nil, &out, http.StatusAccepted)
	return out.Run, err
}

// createRunOver asks for a run of the monitor over [start, end).
func (c *client) createRunOver(ctx context.Context, name string, start, end time.Time) (api.Run, error) {
	body, err := json.Marshal(map[string]string{
		"window_start": start.UTC().Format(time.RFC3339Nano), "window_end": end.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return api.Run{}, err
	}
	var out api.CreatedRun
	err = c.do(ctx, http.MethodPost, "monitors/"+url.PathEscape(name)+"/runs", "application/json", body, &out, http.StatusAccepted)
	return out.Run, err
}

func (c *client) getRun(ctx context.Context, id string) (api.Run, error) {
	var out api.Run
	err := c.do(ctx, http.MethodGet, "runs/"+url.PathEscape(id), "", nil, &out, http.StatusOK)
	return out, err
}

// latestRuns are the monitor's newest runs.
func (c *client) latestRuns(ctx context.Context, name string) ([]api.Run, error) {
	var out api.RunList
	err := c.do(ctx, http.MethodGet, "monitors/"+url.PathEscape(name)+"/runs?limit=1", "", nil, &out, http.StatusOK)
	return out.Runs, err
}

// firingAlerts are the monitor's firing alerts, newest first.
func (c *client) firingAlerts(ctx context.Context, name string) ([]api.Alert, error) {
	var out api.AlertList
	q := url.Values{"monitor": {name}, "state": {"firing"}}
	err := c.do(ctx, http.MethodGet, "alerts?"+q.Encode(), "", nil, &out, http.StatusOK)
	return out.Alerts, err
}

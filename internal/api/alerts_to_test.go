package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestChannelTestTo: ?to= sends a test e-mail to the given addresses:
// required for the channel "emails", accepted by e-mail channels, refused
// by other types and for addresses that do not parse.
func TestChannelTestTo(t *testing.T) {
	var gotName string
	var gotTo []string
	channels := func() []ChannelInfo {
		return []ChannelInfo{{Name: "oncall", Type: "slack"}, {Name: "team-mail", Type: "email", Recipients: []string{"team@example.com"}}}
	}
	srv := newTestServer(t, Options{
		Channels:    channels,
		TestChannel: func(context.Context, string) error { return nil },
		TestChannelTo: func(_ context.Context, name string, to []string) error {
			gotName, gotTo = name, to
			return nil
		},
	}, nil)
	tests := []struct {
		name, path string
		status     int
		wantTo     []string
		wantErr    string
	}{
		{name: "emails with one address", path: "emails/test?to=you@example.com", status: http.StatusOK, wantTo: []string{"you@example.com"}},
		{name: "emails with two", path: "emails/test?to=a@example.com,%20Bob%20%3Cb@example.com%3E", status: http.StatusOK, wantTo: []string{"a@example.com", "b@example.com"}},
		{name: "email channel", path: "team-mail/test?to=me@example.com", status: http.StatusOK, wantTo: []string{"me@example.com"}},
		{name: "emails without to", path: "emails/test", status: http.StatusBadRequest, wantErr: `give the address to test with ?to=ADDRESS`},
		{name: "bad address", path: "emails/test?to=nobody", status: http.StatusBadRequest, wantErr: `"nobody" is not an e-mail address`},
		{name: "empty address", path: "emails/test?to=a@example.com,", status: http.StatusBadRequest, wantErr: `"" is not an e-mail address`},
		{name: "too many", path: "emails/test?to=" + strings.Repeat("a@example.com,", 10) + "a@example.com", status: http.StatusBadRequest, wantErr: "at most 10 addresses, got 11"},
		{name: "not an e-mail channel", path: "oncall/test?to=a@example.com", status: http.StatusBadRequest, wantErr: `the channel "oncall" is of type slack`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotName, gotTo = "", nil
			req, err := http.NewRequest(http.MethodPost, srv.URL+Prefix+"channels/"+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %v", res.StatusCode, tt.status, body)
			}
			if tt.wantErr != "" {
				if msg, _ := body["error"].(string); !strings.Contains(msg, tt.wantErr) {
					t.Errorf("error %q, want it to contain %q", msg, tt.wantErr)
				}
				if gotName != "" {
					t.Errorf("sent to channel %q, want nothing sent", gotName)
				}
				return
			}
			if diff := cmp.Diff(tt.wantTo, gotTo); diff != "" {
				t.Errorf("recipients (-want +got):\n%s", diff)
			}
		})
	}
}

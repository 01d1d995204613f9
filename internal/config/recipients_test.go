package config

import (
	"strings"
	"testing"
)

func TestRecipientAllowed(t *testing.T) {
	n := Notifications{AllowedRecipients: []string{"Oncall@Example.com", "@partner.org"}}
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"oncall@example.com", true},
		{"ONCALL@EXAMPLE.COM", true},
		{"other@example.com", false},
		{"anyone@partner.org", true},
		{"x@sub.partner.org", false},
		{"x@partner.org.evil.net", false},
		{"partner.org", false},
	} {
		if got := n.RecipientAllowed(tc.addr); got != tc.want {
			t.Errorf("RecipientAllowed(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestValidateAuthKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // in the error; "" for none
	}{
		{"defaults", func(*Config) {}, ""},
		{"auth none", func(c *Config) { c.Auth = "none" }, ""},
		{"auth keys", func(c *Config) { c.Auth = "keys" }, ""},
		{"auth bad", func(c *Config) { c.Auth = "off" }, `auth: must be auto, keys or none, got "off"`},
		{"allowed host", func(c *Config) { c.HTTP.AllowedHosts = []string{"flowwatch.internal"} }, ""},
		{"allowed host with port", func(c *Config) { c.HTTP.AllowedHosts = []string{"flowwatch:4318"} }, "http.allowed_hosts[0]"},
		{"recipients", func(c *Config) { c.Notifications.AllowedRecipients = []string{"a@example.com", "@example.org"} }, ""},
		{"recipient bad", func(c *Config) { c.Notifications.AllowedRecipients = []string{"example.org"} }, "notifications.allowed_recipients[0]"},
		{"recipient bare @", func(c *Config) { c.Notifications.AllowedRecipients = []string{"@"} }, "notifications.allowed_recipients[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

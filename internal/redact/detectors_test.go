package redact

import (
	"testing"
)

// detectorCase is a text and what a detector must leave of it.
type detectorCase struct {
	name, in, want string
}

func runDetector(t *testing.T, detector string, cases []detectorCase) {
	t.Helper()
	r, err := New(Options{Detectors: []string{detector}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Text(tc.in); got != tc.want {
				t.Errorf("%s(%q)\n got %q\nwant %q", detector, tc.in, got, tc.want)
			}
		})
	}
}

func TestEmail(t *testing.T) {
	m := Marker(DetectorEmail)
	runDetector(t, DetectorEmail, []detectorCase{
		{"plain", "write to jane.doe@example.com today", "write to " + m + " today"},
		{"plus and subdomain", "a+tag@mail.example.co.uk", m},
		{"sentence end", "mail bob@example.org.", "mail " + m + "."},
		{"angle brackets", "Bob <bob_99@corp-mail.io>", "Bob <" + m + ">"},
		{"mailto", "mailto:x.y@example.net?subject=hi", "mailto:" + m + "?subject=hi"},
		{"two", "a@example.com, b@example.com", m + ", " + m},
		{"in JSON", `{"user":"jane@example.com"}`, `{"user":"` + m + `"}`},
		{"after JSON escape", `["hi\njane@example.com"]`, `["hi\n` + m + `"]`},
		{"after unicode escape", `["\u00e9jane@example.com"]`, `["\u00e9` + m + `"]`},
		{"upper case", "JANE@EXAMPLE.COM", m},
		// Near misses.
		{"no domain dot", "root@localhost", "root@localhost"},
		{"decorator", "@app.route('/')", "@app.route('/')"},
		{"package version", "lodash@4.17.21", "lodash@4.17.21"},
		{"retina image", "icon@2x.png", "icon@2x.png"},
		{"handle", "ping @jane on chat", "ping @jane on chat"},
		{"numeric tld", "x@10.0.0.1", "x@10.0.0.1"},
		{"lone at", "a @ b . com", "a @ b . com"},
	})
}

func TestPhone(t *testing.T) {
	m := Marker(DetectorPhone)
	runDetector(t, DetectorPhone, []detectorCase{
		{"uk spaces", "call +44 20 7946 0958 now", "call " + m + " now"},
		{"us dashes", "+1-202-555-0173", m},
		{"us parens after cc", "+1 (202) 555-0173", m},
		{"de trunk zero", "+49 (0)30 1234567", m},
		{"e164", "tel:+4915112345678", "tel:" + m},
		{"fr dots", "+33.1.23.45.67.89", m},
		{"nanp parens", "(202) 555-0173", m},
		{"nanp dashes", "cell 202-555-0173.", "cell " + m + "."},
		{"nanp dots", "202.555.0173", m},
		{"in JSON", `{"phone":"+44 20 7946 0958"}`, `{"phone":"` + m + `"}`},
		// Near misses.
		{"plain number", "order 2025550173 shipped", "order 2025550173 shipped"},
		{"short plus", "+12345 points", "+12345 points"},
		{"timezone", "2026-12-06T17:38:45+01:00", "2026-12-06T17:38:45+01:00"},
		{"date", "2026-12-06", "2026-12-06"},
		{"iso date and time", "2026-12-06 17:38:45.123", "2026-12-06 17:38:45.123"},
		{"ip address", "10.255.255.1", "10.255.255.1"},
		{"version", "v202.555.0173", "v202.555.0173"},
		{"uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"},
		{"sum", "1+23456789012", "1+23456789012"},
		{"too many digits", "+1 234 567 890 123 456 789", "+1 234 567 890 123 456 789"},
		{"longer number", "202-555-0173-99", "202-555-0173-99"},
		{"inside a word", "id202-555-0173", "id202-555-0173"},
		{"float", "+1.5", "+1.5"},
	})
}

func TestCard(t *testing.T) {
	m := Marker(DetectorCard)
	runDetector(t, DetectorCard, []detectorCase{
		{"visa", "card 4111111111111111 exp 12/29", "card " + m + " exp 12/29"},
		{"visa spaces", "4111 1111 1111 1111", m},
		{"visa dashes", "4111-1111-1111-1111", m},
		{"mastercard", "5555555555554444", m},
		{"mastercard 2-series", "2223000048400011", m},
		{"amex grouped", "3782 822463 10005", m},
		{"discover", "6011111111111117", m},
		{"visa 13", "4222222222222", m},
		{"in JSON string", `{"card":"4111 1111 1111 1111"}`, `{"card":"` + m + `"}`},
		{"JSON number", `{"card":4111111111111111}`, `{"card":"` + m + `"}`},
		{"after escape", `["pay\n4111111111111111"]`, `["pay\n` + m + `"]`},
		// Near misses.
		{"luhn fails", "4111111111111112", "4111111111111112"},
		{"timestamp ms", "1733505600000", "1733505600000"},
		{"timestamp ns", "1733505600000000000", "1733505600000000000"},
		{"too long", "41111111111111111111", "41111111111111111111"},
		{"too short", "411111111111", "411111111111"},
		{"in hex id", "a4111111111111111b", "a4111111111111111b"},
		{"decimal", "0.4111111111111111", "0.4111111111111111"},
		{"mixed separators", "4111 1111-1111 1111", "4111 1111-1111 1111"},
		{"odd grouping", "41 11 11 11 11 11 11 11", "41 11 11 11 11 11 11 11"},
		{"unknown network", "7992739871300000", "7992739871300000"},
	})
}

func TestLuhn(t *testing.T) {
	for _, tc := range []struct {
		num  string
		want bool
	}{
		{"79927398713", true},
		{"79927398710", false},
		{"4111 1111 1111 1111", true},
		{"4111-1111-1111-1112", false},
		{"0", true},
		{"18", true},
		{"19", false},
		{"378282246310005", true},
	} {
		if got := luhn(tc.num); got != tc.want {
			t.Errorf("luhn(%q) = %v, want %v", tc.num, got, tc.want)
		}
	}
}

func TestAPIKey(t *testing.T) {
	m := Marker(DetectorAPIKey)
	runDetector(t, DetectorAPIKey, []detectorCase{
		{"openai", "key sk-Zq3v9XbT0pLmN4rS7uWy2AcE5gHj8KdF1QsR6tVx", "key " + m},
		{"openai project", "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90", m},
		{"anthropic", "sk-ant-api03-Xy7Qw2Er9Ty4Ui1Op6As3Df8Gh5Jk0LzXcVbNm-AbCdEf", m},
		{"openrouter hex", "sk-or-v1-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a", m},
		{"aws", "AKIAIOSFODNN7EXAMPLE is the id", m + " is the id"},
		{"aws temporary", "ASIAY34FZKBOKMUTVV7A", m},
		{"github", "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5", m},
		{"github fine grained", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123", m},
		{"slack bot", "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", m},
		{"slack user", "xoxp-2048-4096-8192-a1b2c3d4e5f6", m},
		{"google", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", m},
		{"gitlab", "glpat-xY7z8A9b0C1d2E3f4G5h", m},
		{"hugging face", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", m},
		{"stripe", "sk_live_51HxYzAbCdEf0123456789", m},
		{"bearer", "Authorization: Bearer abc123DEF456ghi789JKL0", "Authorization: Bearer " + m},
		{"jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk", "token " + m},
		{"api_key value", `api_key=Qm9keS1rZXktMTIzNDU2Nzg5`, "api_key=" + m},
		{"json secret", `{"client_secret": "d41d8cd98f00b204e9800998ecf8427e"}`, `{"client_secret": "` + m + `"}`},
		{"camel case", `accessToken: "A1b2C3d4E5f6G7h8I9j0"`, `accessToken: "` + m + `"`},
		{"header key", "x-api-key: 0123456789abcdef0123456789abcdef", "x-api-key: " + m},
		{"escaped JSON", `["{\"api_key\":\"Qm9keS1rZXktMTIzNDU2Nzg5\"}"]`, `["{\"api_key\":\"` + m + `\"}"]`},
		// Near misses.
		{"prose sk", "the task-management-system-for-teams", "the task-management-system-for-teams"},
		{"words after sk", "sk-2024-annual-report-final-version", "sk-2024-annual-report-final-version"},
		{"short sk", "sk-learn", "sk-learn"},
		{"aws wrong length", "AKIAIOSFODNN7EXAMPLE1", "AKIAIOSFODNN7EXAMPLE1"},
		{"bearer prose", "Bearer tokens are sent in headers", "Bearer tokens are sent in headers"},
		{"max tokens", `{"max_tokens": 1024}`, `{"max_tokens": 1024}`},
		{"key words", "the key: understanding-the-customer-journey", "the key: understanding-the-customer-journey"},
		{"monkey", "monkey=ab12cd34ef56gh78ij90", "monkey=ab12cd34ef56gh78ij90"},
		{"token count", "token: 12345", "token: 12345"},
		{"trace id", "trace 4bf92f3577b34da6a3ce929d0e0e4736", "trace 4bf92f3577b34da6a3ce929d0e0e4736"},
	})
}

func TestLooksLikeJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{"a":1}`, true},
		{` [ {"a":1} ]`, true},
		{`[1,2]`, true},
		{`[]`, true},
		{`{}`, true},
		{`[INFO] started`, false},
		{`{user} said`, false},
		{`[x] done`, false},
		{`plain`, false},
		{``, false},
	} {
		if got := looksLikeJSON(tc.in); got != tc.want {
			t.Errorf("looksLikeJSON(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestNextDigit(t *testing.T) {
	for _, s := range []string{"", "7", "abcdefgh1", "abcdefghijklmnop", "abc/:@9xyz", "\xff\x80\xb9\xb0 0", "éééééé5", "////////::::::::0"} {
		want := len(s)
		for i := 0; i < len(s); i++ {
			if s[i] >= '0' && s[i] <= '9' {
				want = i
				break
			}
		}
		if got := nextDigit(s, 0); got != want {
			t.Errorf("nextDigit(%q) = %d, want %d", s, got, want)
		}
	}
}

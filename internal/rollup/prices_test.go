package rollup

import (
	"math"
	"strings"
	"testing"

	"github.com/flowwatch/flowwatch/internal/model"
)

func TestPriceLookup(t *testing.T) {
	ps, err := NewPrices([]Price{
		{Model: "gpt-4o*", InputPerMTok: 100, OutputPerMTok: 100}, // the configuration overrides a default
		{Model: "my-finetune-*", InputPerMTok: 1, OutputPerMTok: 1},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		model  string
		want   string // the pattern that must price it; "" for none
		wantIn float64
	}{
		{"gpt-4o", "gpt-4o*", 100},
		{"gpt-4o-2024-08-06", "gpt-4o*", 100},
		{"GPT-4o-Mini", "gpt-4o-mini*", 0.15}, // a more specific default wins over a given entry
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini*", 0.15},
		{"gpt-4.1-mini", "gpt-4.1-mini*", 0.4},
		{"gpt-4.1", "gpt-4.1*", 2},
		{"o3-mini", "o3-mini*", 1.1},
		{"openai/gpt-5-nano", "gpt-5-nano*", 0.05},
		{"claude-3-5-sonnet-20241022", "*claude-3-5-sonnet*", 3},
		{"anthropic.claude-3-5-haiku-20241022-v1:0", "*claude-3-5-haiku*", 0.8},
		{"models/gemini-2.5-flash-lite", "gemini-2.5-flash-lite*", 0.1},
		{"gemini-2.5-flash", "gemini-2.5-flash*", 0.3},
		{"mistral-large-latest", "mistral-large*", 2},
		{"my-finetune-v3", "my-finetune-*", 1},
		{"llama3.1", "", 0},
		{"", "", 0},
	}
	for _, tc := range cases {
		p, ok := ps.Lookup(tc.model)
		if ok != (tc.want != "") || p.Model != tc.want || p.InputPerMTok != tc.wantIn {
			t.Errorf("Lookup(%q) = %q %v (%v), want %q %v", tc.model, p.Model, p.InputPerMTok, ok, tc.want, tc.wantIn)
		}
	}
}

func TestPriceCost(t *testing.T) {
	p := Price{InputPerMTok: 3, CachedInputPerMTok: 0.3, CacheWritePerMTok: 3.75, OutputPerMTok: 15}
	u := model.Usage{InputTokens: 1_000_000, CacheReadTokens: 400_000, CacheWriteTokens: 100_000, OutputTokens: 200_000}
	// 500k plain × 3 + 400k × 0.3 + 100k × 3.75 + 200k × 15, per million.
	want := 1.5 + 0.12 + 0.375 + 3
	if got := p.Cost(u); math.Abs(got-want) > 1e-12 {
		t.Errorf("cost = %v, want %v", got, want)
	}
	// Without cache prices, cached tokens cost as input; counts that do
	// not add up are clamped rather than going negative.
	p = Price{InputPerMTok: 2, OutputPerMTok: 8}
	u = model.Usage{InputTokens: 100, CacheReadTokens: 500, OutputTokens: -5}
	if got, want := p.Cost(u), 200.0/1e6; math.Abs(got-want) > 1e-15 {
		t.Errorf("clamped cost = %v, want %v", got, want)
	}
}

func TestNewPricesRejects(t *testing.T) {
	_, err := NewPrices([]Price{{Model: " "}, {Model: "x", OutputPerMTok: -1}, {Model: "y", InputPerMTok: math.NaN()}}, false)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"pricing[0]: model pattern is empty", "pricing[1] (x): output_per_mtok", "pricing[2] (y): input_per_mtok"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestDefaultPricesValid(t *testing.T) {
	if _, err := NewPrices(DefaultPrices(), false); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range DefaultPrices() {
		if seen[p.Model] {
			t.Errorf("pattern %q listed twice", p.Model)
		}
		seen[p.Model] = true
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		pat, name string
		want      bool
	}{
		{"a*", "abc", true}, {"*c", "abc", true}, {"a*c", "abc", true}, {"a*c", "ac", true},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "acb", false}, {"abc", "abc", true}, {"abc", "abcd", false},
		{"*", "", true}, {"a*a", "a", false},
	}
	for _, tc := range cases {
		if got := match(tc.pat, tc.name); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pat, tc.name, got, tc.want)
		}
	}
}

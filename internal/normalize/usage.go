package normalize

// Token usage and reported cost.

import (
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
)

// usageDetails is Langfuse's usage_details map read with Langfuse's
// meaning: "input" excludes cache tokens, which are separate input_* keys.
type usageDetails struct {
	input, output, total, cacheRead, cacheWrite, reasoning                   int64
	hasInput, hasOutput, hasTotal, hasCacheRead, hasCacheWrite, hasReasoning bool
}

func (v *view) usageDetails() (usageDetails, bool) {
	var u usageDetails
	val, _, ok := v.value(usageDetailsKey)
	if !ok {
		return u, false
	}
	m, ok := val.(map[string]any)
	if !ok {
		return u, false
	}
	for k, raw := range m {
		n, ok := asInt(raw)
		if !ok || n < 0 {
			continue
		}
		k = strings.ToLower(k)
		switch {
		case k == "input" || k == "prompt_tokens" || k == "input_tokens":
			u.input += n
			u.hasInput = true
		case k == "output" || k == "completion_tokens" || k == "output_tokens":
			u.output += n
			u.hasOutput = true
		case k == "total" || k == "total_tokens":
			u.total = n
			u.hasTotal = true
		case strings.Contains(k, "cache") && (strings.Contains(k, "creation") || strings.Contains(k, "write")):
			u.cacheWrite += n
			u.hasCacheWrite = true
			u.input += n
		case strings.Contains(k, "cache") && strings.HasPrefix(k, "input") || strings.Contains(k, "cache_read"):
			u.cacheRead += n
			u.hasCacheRead = true
			u.input += n
		case strings.HasPrefix(k, "input_"):
			u.input += n // other input details (audio, ...) are part of the input
		case strings.Contains(k, "reasoning"):
			u.reasoning += n
			u.hasReasoning = true
			u.output += n
		case strings.HasPrefix(k, "output_"):
			u.output += n
		}
	}
	return u, true
}

// usage applies the token and cost precedence. Counts are per field: a
// missing count is unknown, and old and new names are never added.
func (v *view) usage() model.Usage {
	var u model.Usage
	ud, hasUD := v.usageDetails()
	var ok [6]bool
	u.InputTokens, ok[0] = v.int(inputTokenKeys)
	if !ok[0] && hasUD && ud.hasInput {
		u.InputTokens, ok[0] = ud.input, true
	}
	u.OutputTokens, ok[1] = v.int(outputTokenKeys)
	if !ok[1] && hasUD && ud.hasOutput {
		u.OutputTokens, ok[1] = ud.output, true
	}
	u.TotalTokens, ok[2] = v.int(totalTokenKeys)
	if !ok[2] && hasUD && ud.hasTotal {
		u.TotalTokens, ok[2] = ud.total, true
	}
	if !ok[2] && (ok[0] || ok[1]) {
		u.TotalTokens, ok[2] = u.InputTokens+u.OutputTokens, true
	}
	u.CacheReadTokens, ok[3] = v.int(cacheReadKeys)
	if !ok[3] && hasUD && ud.hasCacheRead {
		u.CacheReadTokens, ok[3] = ud.cacheRead, true
	}
	u.CacheWriteTokens, ok[4] = v.int(cacheWriteKeys)
	if !ok[4] && hasUD && ud.hasCacheWrite {
		u.CacheWriteTokens, ok[4] = ud.cacheWrite, true
	}
	u.ReasoningTokens, ok[5] = v.int(reasoningKeys)
	if !ok[5] && hasUD && ud.hasReasoning {
		u.ReasoningTokens, ok[5] = ud.reasoning, true
	}
	for _, k := range ok {
		u.Known = u.Known || k
	}
	u.CostUSD, u.CostKnown = v.cost()
	return u
}

// cost is the cost the app reported, in USD, and whether it reported one.
func (v *view) cost() (float64, bool) {
	if val, _, ok := v.value(costDetailsKey); ok {
		if m, ok := val.(map[string]any); ok {
			if f, ok := asFloat(m["total"]); ok && f >= 0 {
				return f, true
			}
			var sum float64
			var any bool
			for _, raw := range m {
				if f, ok := asFloat(raw); ok && f >= 0 {
					sum += f
					any = true
				}
			}
			if any {
				return sum, true
			}
		}
	}
	for _, k := range costKeys {
		if f, ok := asFloat(v.attrs[k]); ok && f >= 0 {
			return f, true
		}
	}
	return 0, false
}

package demo

import "strings"

// MonitorName names the monitor the demo applies.
const MonitorName = "nimbus-assistant-quality"

// builtinMonitor is the demo's monitor when no judge is configured: the
// built-in evaluators, no LLM. The thresholds are those of a team that
// wants nine answers in ten to keep to their context; the assistant's
// canary strays too often for that, so runs over its traffic violate
// lexical_groundedness, and the vector store's incident pushes the error
// rate over its bound.
const builtinMonitor = `# The monitor 'flowwatch demo' applies: built-in evaluators, no LLM.
# Apply your own with: flowwatch monitor apply -f FILE (see docs/monitors.md).
name: nimbus-assistant-quality
description: Do the Nimbus assistant's answers keep to the help center, and is it healthy? (flowwatch demo)
target: {service: nimbus-assistant}
schedule: {cron: "*/5 * * * *", timezone: UTC}
window: {lookback: PT2H}
sampling_rate: 1.0
columns: {prompt: question, completion: answer, context: context}
quality:
  # share of the answer's content words found in the retrieved articles
  lexical_groundedness: {pass_score: 0.8, min_pass_rate: 0.9}
  # 1 unless the answer declines to help
  refusal: {min_pass_rate: 0.8}
  # 1 unless the answer holds an e-mail address, phone or card number
  pii: {min_pass_rate: 1.0}
  # words per answer: measured, never violated
  answer_length: {}
operational:
  error_rate: {max: 0.05}
  latency_p95_ms: {max: 5000}
  total_tokens: {max: 2000000}
alerting: {for_runs: 1, repeat_interval: 1h, no_data: alert}
`

// judgeMonitor is the demo's monitor when a judge connection is
// configured: the LLM judge's metrics on a quarter of the traces, within
// a token budget, next to the built-in groundedness.
const judgeMonitor = `# The monitor 'flowwatch demo' applies: the LLM judge JUDGE and built-in evaluators.
# Apply your own with: flowwatch monitor apply -f FILE (see docs/monitors.md).
name: nimbus-assistant-quality
description: Do the Nimbus assistant's answers keep to the help center, and is it healthy? (flowwatch demo)
target: {service: nimbus-assistant}
schedule: {cron: "*/5 * * * *", timezone: UTC}
window: {lookback: PT2H}
# a quarter of the traces, and at most 200,000 judge tokens a run
sampling_rate: 0.25
budget: {max_tokens: 200000}
columns: {prompt: question, completion: answer, context: context}
judge: JUDGE
quality:
  groundedness: {pass_score: 4, min_pass_rate: 0.9}
  relevance: {pass_score: 3, min_pass_rate: 0.8}
  coherence: {pass_score: 3, min_pass_rate: 0.8}
  fluency: {pass_score: 3, min_pass_rate: 0.8}
  lexical_groundedness: {pass_score: 0.8, min_pass_rate: 0.9}
operational:
  error_rate: {max: 0.05}
  latency_p95_ms: {max: 5000}
  total_tokens: {max: 2000000}
alerting: {for_runs: 1, repeat_interval: 1h, no_data: alert}
`

// MonitorYAML is the monitor file the demo applies: with judge "" the
// built-in evaluators only, else the LLM judge of that connection too.
func MonitorYAML(judge string) string {
	if judge == "" {
		return builtinMonitor
	}
	return strings.ReplaceAll(judgeMonitor, "JUDGE", judge)
}

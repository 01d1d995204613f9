package payload

import (
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// A log record encodes to the same bytes every time, whatever order Go
// iterates its maps in, so that a record sent again gets the same LogSeq
// and is stored once.
func TestLogPayloadStable(t *testing.T) {
	l := model.LogRecord{
		Time:      time.Unix(1700000000, 5),
		EventName: "gen_ai.choice",
		Body: map[string]any{"index": int64(0), "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": "hi", "tool_calls": []any{map[string]any{"id": "a", "type": "function"}}}},
		Attributes:         map[string]any{"gen_ai.system": "openai", "event.name": "gen_ai.choice", "k1": true, "k2": 1.5},
		ResourceAttributes: map[string]any{"service.name": "svc", "deployment.name": "prod", "host": "h"},
		Scope:              model.Scope{Name: "s", Attributes: map[string]any{"a": "1", "b": "2", "c": "3"}},
	}
	first, err := AppendLog(nil, &l)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		p, err := AppendLog(nil, &l)
		if err != nil {
			t.Fatal(err)
		}
		if string(p) != string(first) {
			t.Fatalf("payload changed between encodings:\n%s\n%s", first, p)
		}
	}
}

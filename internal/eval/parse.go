package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// rating is one metric's outcome in a judge reply: a score with its reason,
// or the problem that prevented one.
type rating struct {
	Score   int
	Reason  string
	Problem string
}

func (r rating) ok() bool { return r.Problem == "" }

// maxReasonRunes bounds a kept reason.
const maxReasonRunes = 500

// maxObjectTries bounds how many '{' positions are tried when looking for
// the first JSON object in a reply.
const maxObjectTries = 16

// parseReply reads the ratings of metrics from a judge reply. The reply
// should be a JSON object; when it is not, the first JSON object found in
// the text is used (models sometimes wrap it in prose or a code fence).
// For one metric it accepts {"score": n, "reason": "..."} or that object
// under the metric's name; for several, an object with one such entry per
// metric (a bare number is accepted as an entry). "rating" is accepted
// for "score". A score must be an integer from 1 to 5 (a number, or a
// string holding one; 4.0 is 4, 4.5 is rejected). The result has one
// entry per metric, in order; each either has a score or says why not.
func parseReply(content string, metrics []string) []rating {
	out := make([]rating, len(metrics))
	obj, ok := firstJSONObject(content)
	if !ok {
		for i := range out {
			out[i].Problem = "the reply holds no JSON object"
		}
		return out
	}
	if len(metrics) == 1 {
		if _, flat := lookupScore(obj); flat {
			out[0] = parseRating(obj)
			return out
		}
	}
	for i, name := range metrics {
		raw, found := lookupKey(obj, name)
		if !found {
			out[i].Problem = fmt.Sprintf("the reply has no entry for %s", name)
			continue
		}
		var entry map[string]json.RawMessage
		if err := json.Unmarshal(raw, &entry); err != nil {
			// A bare number (or numeric string) as the entry.
			score, problem := parseScore(raw)
			out[i] = rating{Score: score, Problem: problem}
			if problem != "" {
				out[i].Problem = fmt.Sprintf("%s: %s", name, problem)
			}
			continue
		}
		out[i] = parseRating(entry)
		if out[i].Problem != "" {
			out[i].Problem = fmt.Sprintf("%s: %s", name, out[i].Problem)
		}
	}
	return out
}

// firstJSONObject decodes the whole content as a JSON object or, failing
// that, the first JSON object that starts at one of the first '{'.
func firstJSONObject(content string) (map[string]json.RawMessage, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(content), &obj); err == nil && obj != nil {
		return obj, true
	}
	rest := content
	for tries := 0; tries < maxObjectTries; tries++ {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return nil, false
		}
		rest = rest[i:]
		dec := json.NewDecoder(strings.NewReader(rest))
		obj = nil
		if err := dec.Decode(&obj); err == nil && obj != nil {
			return obj, true
		}
		rest = rest[1:]
	}
	return nil, false
}

// lookupKey finds a key exactly or, failing that, ignoring case.
func lookupKey(obj map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := obj[key]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(strings.TrimSpace(k), key) {
			return v, true
		}
	}
	return nil, false
}

func lookupScore(obj map[string]json.RawMessage) (json.RawMessage, bool) {
	if v, ok := lookupKey(obj, "score"); ok {
		return v, true
	}
	return lookupKey(obj, "rating")
}

// parseRating reads {"score": n, "reason": "..."}.
func parseRating(obj map[string]json.RawMessage) rating {
	raw, ok := lookupScore(obj)
	if !ok {
		return rating{Problem: "no score in the reply"}
	}
	score, problem := parseScore(raw)
	if problem != "" {
		return rating{Problem: problem}
	}
	var reason string
	if r, ok := lookupKey(obj, "reason"); ok {
		_ = json.Unmarshal(r, &reason) // a reason that is not a string is dropped
	}
	return rating{Score: score, Reason: trimReason(reason)}
}

// parseScore reads an integer score from 1 to 5.
func parseScore(raw json.RawMessage) (int, string) {
	var text string
	var n json.Number
	if err := json.Unmarshal(raw, &text); err == nil {
		text = strings.TrimSpace(text)
	} else if err := json.Unmarshal(raw, &n); err == nil {
		text = n.String()
	} else {
		return 0, fmt.Sprintf("score %s is not a number", clip(string(raw), 40))
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Sprintf("score %q is not a number", clip(text, 40))
	}
	if f != math.Trunc(f) {
		return 0, fmt.Sprintf("score %s is not an integer", clip(text, 40))
	}
	if f < 1 || f > 5 {
		return 0, fmt.Sprintf("score %s is outside 1-5", clip(text, 40))
	}
	return int(f), ""
}

func trimReason(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxReasonRunes {
		return s
	}
	r := []rune(s)
	return string(r[:maxReasonRunes-1]) + "…"
}

// clip shortens s to at most n bytes (on a rune boundary).
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

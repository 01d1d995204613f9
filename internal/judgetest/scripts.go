package judgetest

import (
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"
)

// ScoreContent is the reply content rating the given metrics: the flat
// {"score": n, "reason": "..."} for one metric, or an object keyed by
// metric for several. A metric without a score in the map is left out.
func ScoreContent(metrics []string, scores map[string]int) string {
	type rating struct {
		Score  int    `json:"score"`
		Reason string `json:"reason"`
	}
	if len(metrics) == 1 {
		n, ok := scores[metrics[0]]
		if !ok {
			return "{}"
		}
		b, _ := json.Marshal(rating{n, "Scripted score for " + metrics[0] + "."})
		return string(b)
	}
	out := map[string]rating{}
	for _, m := range metrics {
		if n, ok := scores[m]; ok {
			out[m] = rating{n, "Scripted score for " + m + "."}
		}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// Scores rates every metric a request asks for with score(request,
// metric); a metric for which ok is false is left out of the reply.
func Scores(score func(r Request, metric string) (n int, ok bool)) ReplyFunc {
	return func(r Request) Reply {
		metrics := r.Metrics()
		m := make(map[string]int, len(metrics))
		for _, name := range metrics {
			if n, ok := score(r, name); ok {
				m[name] = n
			}
		}
		return Reply{Content: ScoreContent(metrics, m)}
	}
}

// FixedScores rates each metric with its score in the map; metrics not in
// the map are left out of the reply (a partial reply).
func FixedScores(scores map[string]int) ReplyFunc {
	if scores == nil {
		return AllScores(5)
	}
	return Scores(func(_ Request, metric string) (int, bool) {
		n, ok := scores[metric]
		return n, ok
	})
}

// AllScores rates every metric asked for with n.
func AllScores(n int) ReplyFunc {
	return Scores(func(Request, string) (int, bool) { return n, true })
}

// Content always replies with the given content, for example malformed
// JSON or prose around a JSON object.
func Content(content string) ReplyFunc {
	return func(Request) Reply { return Reply{Content: content} }
}

// Malformed replies with content that holds no JSON object.
func Malformed() ReplyFunc {
	return Content("I would rate this answer quite highly overall.")
}

// Status always fails with the given HTTP status and, when positive,
// Retry-After.
func Status(status int, retryAfter time.Duration) ReplyFunc {
	return func(Request) Reply { return Reply{Status: status, RetryAfter: retryAfter} }
}

// Drop always closes the connection without a reply.
func Drop() ReplyFunc {
	return func(Request) Reply { return Reply{Drop: true} }
}

// Delayed answers as next does, after waiting d.
func Delayed(d time.Duration, next ReplyFunc) ReplyFunc {
	return func(r Request) Reply {
		rep := next(r)
		rep.Delay += d
		return rep
	}
}

// Share answers a deterministic share of requests (by arrival order:
// exactly floor(n*share) of the first n) with fail and the others with
// next. A share of 0.2 fails requests 5, 10, 15, ...
func Share(share float64, fail, next ReplyFunc) ReplyFunc {
	return func(r Request) Reply {
		if math.Floor(float64(r.Seq)*share) != math.Floor(float64(r.Seq-1)*share) {
			return fail(r)
		}
		return next(r)
	}
}

// RateLimited answers a share of requests with 429 and Retry-After, the
// others as next does.
func RateLimited(share float64, retryAfter time.Duration, next ReplyFunc) ReplyFunc {
	return Share(share, Status(http.StatusTooManyRequests, retryAfter), next)
}

// ServerErrors answers a share of requests with 500, the others as next
// does.
func ServerErrors(share float64, next ReplyFunc) ReplyFunc {
	return Share(share, Status(http.StatusInternalServerError, 0), next)
}

// Sequence answers the n-th request (by arrival order) with the n-th
// function, and every later request with the last one.
func Sequence(fns ...ReplyFunc) ReplyFunc {
	return func(r Request) Reply {
		i := min(int(r.Seq)-1, len(fns)-1)
		return fns[max(i, 0)](r)
	}
}

// ByText answers a request with the function of the first key found in its
// non-system messages (longest keys first, then alphabetically), and with
// fallback when no key is found.
func ByText(cases map[string]ReplyFunc, fallback ReplyFunc) ReplyFunc {
	keys := make([]string, 0, len(cases))
	for k := range cases {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	return func(r Request) Reply {
		text := r.UserText()
		for _, k := range keys {
			if strings.Contains(text, k) {
				return cases[k](r)
			}
		}
		return fallback(r)
	}
}

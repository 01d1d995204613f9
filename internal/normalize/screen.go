package normalize

import (
	"fmt"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/textclip"
)

// Screening: what a batch's spans may claim about their times and
// identity, checked after conversion (Screen) so that absurd values never
// reach the store:
//   - a start time that is unset (0) or before MinTime is taken from the
//     end time when that is plausible, else from the time the batch was
//     received; the span keeps a duration of zero (reason
//     "start_time_missing");
//   - an end time that is unset, before the start, or more than
//     MaxFutureSkew after the server's clock becomes the start (duration
//     zero; reason "end_time_invalid");
//   - a span starting more than MaxFutureSkew after the server's clock is
//     rejected and reported in partial success, since it would sort first
//     in "newest first" for ever (reason "start_time_in_future");
//   - a span whose (trace id, span id) is already in the batch is rejected
//     and reported; the first is kept (reason "duplicate_span_id");
//   - service.name and deployment.name are cut to MaxNameBytes when the
//     spans are derived (reason "name_too_long").

// Screening limits.
const (
	// MaxFutureSkew is how far after the server's clock a span may start:
	// room for clocks a little ahead, not for a clock a year off.
	MaxFutureSkew = time.Hour
	// MaxNameBytes bounds service and deployment names.
	MaxNameBytes = 256
)

// MinTime is the earliest plausible span time: earlier ones (0, the Unix
// epoch, a clock never set) are taken as unset.
var MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Screen reasons, as counted in ScreenCounts and exposed in metrics.
const (
	ReasonStartMissing = "start_time_missing"
	ReasonEndInvalid   = "end_time_invalid"
	ReasonFuture       = "start_time_in_future"
	ReasonDuplicate    = "duplicate_span_id"
	ReasonNameTooLong  = "name_too_long"
)

// ScreenReasons lists every screen reason.
func ScreenReasons() []string {
	return []string{ReasonStartMissing, ReasonEndInvalid, ReasonFuture, ReasonDuplicate, ReasonNameTooLong}
}

// ScreenCounts counts the spans Screen changed or rejected, by reason.
type ScreenCounts map[string]int64

// clipName cuts a service or deployment name to MaxNameBytes.
func clipName(s string) string {
	out, _ := textclip.Bytes(s, MaxNameBytes)
	return out
}

// Screen checks spans' times and ids (see the rules above) as received at
// now, fixing what can be fixed in place and leaving out what is
// rejected, which it adds to rep. It returns the spans kept and what it
// did, by reason.
func Screen(spans []model.Span, now time.Time, rep *Report) ([]model.Span, ScreenCounts) {
	counts := ScreenCounts{}
	latest := now.Add(MaxFutureSkew)
	type key struct{ trace, span string }
	seen := make(map[key]struct{}, len(spans))
	kept := spans[:0]
	for i := range spans {
		s := spans[i]
		if _, dup := seen[key{s.TraceID, s.SpanID}]; dup {
			counts[ReasonDuplicate]++
			rep.Rejected++
			rep.add(fmt.Sprintf("trace %s, span %s: %s", s.TraceID, s.SpanID,
				"the span id appears more than once in the batch; the first is kept"))
			continue
		}
		if reason := fixTimes(&s, now, latest); reason != "" {
			counts[reason]++
			if reason == ReasonStartMissing {
				rep.add("span start time unset: taken from the end time or the time received")
			} else {
				rep.add("span end time unset, before the start or in the future: set to the start")
			}
		}
		if s.StartTime.After(latest) {
			counts[ReasonFuture]++
			rep.Rejected++
			rep.add(fmt.Sprintf("trace %s, span %s: start time %s is more than %s ahead of the server's clock (%s); check the sender's clock",
				s.TraceID, s.SpanID, s.StartTime.Format(time.RFC3339), MaxFutureSkew, now.UTC().Format(time.RFC3339)))
			continue
		}
		if nameTooLong(s.ResourceAttributes) {
			counts[ReasonNameTooLong]++
			rep.add(fmt.Sprintf("service.name or deployment.name longer than %d bytes cut", MaxNameBytes))
		}
		seen[key{s.TraceID, s.SpanID}] = struct{}{}
		kept = append(kept, s)
	}
	return kept, counts
}

// fixTimes makes a span's start and end plausible, returning the reason
// when it changed them ("" otherwise).
func fixTimes(s *model.Span, now, latest time.Time) string {
	switch {
	case s.StartTime.Before(MinTime):
		if s.EndTime.Before(MinTime) {
			s.EndTime = now.UTC()
		}
		s.StartTime = s.EndTime
		return ReasonStartMissing
	case s.EndTime.Before(s.StartTime), s.EndTime.After(latest) && !s.StartTime.After(latest):
		s.EndTime = s.StartTime
		return ReasonEndInvalid
	}
	return ""
}

// nameTooLong says whether the service or deployment name of a resource
// is over MaxNameBytes (and so cut when derived).
func nameTooLong(res map[string]any) bool {
	for _, keys := range [][]string{serviceKeys, deploymentKeys} {
		if len(firstResource(res, keys)) > MaxNameBytes {
			return true
		}
	}
	return false
}

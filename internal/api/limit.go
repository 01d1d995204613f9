package api

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultChannelTestInterval is how often one channel may be sent a test
// notification.
const DefaultChannelTestInterval = 10 * time.Second

// intervalLimit lets one event per key through every interval.
type intervalLimit struct {
	every time.Duration // <= 0: no limit
	mu    sync.Mutex
	last  map[string]time.Time
}

func newIntervalLimit(every time.Duration) *intervalLimit {
	return &intervalLimit{every: every, last: map[string]time.Time{}}
}

// take records an event for key at now, or returns how long to wait for
// the next one to be allowed.
func (l *intervalLimit) take(key string, now time.Time) (time.Duration, bool) {
	if l.every <= 0 {
		return 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.last[key]; ok {
		if wait := last.Add(l.every).Sub(now); wait > 0 {
			return wait, false
		}
	}
	// Forget what can no longer limit anything, so the map stays as small
	// as the channels tested in the last interval.
	for k, t := range l.last {
		if now.Sub(t) >= l.every {
			delete(l.last, k)
		}
	}
	l.last[key] = now
	return 0, true
}

// tooSoon is the 429 of a channel tested again within the interval; it
// sets Retry-After on w.
func tooSoon(w http.ResponseWriter, channel string, every, wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return &statusError{status: http.StatusTooManyRequests,
		msg: fmt.Sprintf("channel %q was sent a test notification less than %s ago: retry in %d s", channel, every, secs)}
}

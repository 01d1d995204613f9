// Package notify delivers alert notifications: each channel sends one
// model.Notification in its own format, over SMTP (Email) or HTTP
// (Webhook: generic JSON, Slack, Microsoft Teams, PagerDuty Events v2).
//
// A channel only delivers. Whether and when to try again is the sender
// loop's decision, from how a delivery failed: an error marked permanent
// (IsPermanent) cannot succeed by retrying (a rejected payload, an unknown
// recipient, wrong credentials), and may carry the wait the receiver asked
// for (RetryAfter); any other error is transient.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Channel delivers notifications to one destination.
type Channel interface {
	// Send delivers n once. It returns nil when the receiver accepted it,
	// an error marked with Permanent when no retry can succeed, and any
	// other error when a later attempt may.
	Send(ctx context.Context, n model.Notification) error
}

// Channel types: the e-mail channel and the webhook flavours.
const (
	TypeEmail     = "email"
	TypeWebhook   = "webhook"
	TypeSlack     = "slack"
	TypeTeams     = "teams"
	TypePagerDuty = "pagerduty"
)

// userAgent is sent with every HTTP request and as the e-mail User-Agent.
const userAgent = "flowwatch"

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the sender gives the notification up
// instead of retrying. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// retryAfterError carries the wait a receiver asked for before the next
// attempt.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// WithRetryAfter attaches to err the wait the receiver asked for (an HTTP
// Retry-After). WithRetryAfter(nil, d) is nil.
func WithRetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: max(d, 0)}
}

// RetryAfter returns the wait the receiver asked for before the next
// attempt, when it said.
func RetryAfter(err error) (time.Duration, bool) {
	var r *retryAfterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

// channelError names the channel an error happened on.
func channelError(kind, name string, err error) error {
	return fmt.Errorf("notify: %s channel %q: %w", kind, name, err)
}

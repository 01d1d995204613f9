package notify

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Outbox is what the sender needs of the store (store.Outbox provides it).
type Outbox interface {
	DueChannels(ctx context.Context, now time.Time) ([]string, error)
	ClaimNotifications(ctx context.Context, owner, channel string, now time.Time, lease time.Duration, limit int) ([]model.Notification, error)
	SettleNotification(ctx context.Context, id, owner string, status model.NotificationStatus, next time.Time, errMsg string, now time.Time) error
}

// ErrUnknownChannel is returned by Sender.Test for a channel that is not
// configured.
var ErrUnknownChannel = errors.New("unknown channel")

// SenderOptions configure a Sender. Zero values select the defaults.
type SenderOptions struct {
	Store Outbox
	// Channels are the configured channels by name, with
	// model.EmailsChannel for monitors' inline e-mail addresses when SMTP
	// is configured.
	Channels map[string]Channel
	// Concurrency bounds the deliveries in flight per channel (default 4
	// for a channel not listed).
	Concurrency map[string]int
	// RateLimit bounds the notifications a channel is sent per second by
	// this sender (none for a channel not listed, or 0). Notifications
	// over it wait in the outbox: none is dropped.
	RateLimit map[string]float64
	// Flush, when set, is called before each dispatch to queue the
	// messages of the alert groups due at now (the store's
	// FlushAlertGroups with the alert package's decision); it returns how
	// many it queued.
	Flush func(ctx context.Context, now time.Time) (int, error)
	// Lease is how long a claimed notification is this sender's (default
	// 2m): a sender that dies mid-delivery leaves it to another after
	// that. A delivery is bounded at half of it, so it must be more than
	// twice any channel's timeout.
	Lease time.Duration
	// Poll is how often due notifications are looked for (default 1s).
	Poll time.Duration
	// InitialBackoff is the wait before the first retry (default 5s); it
	// doubles with each attempt up to MaxBackoff (default 10m), and each
	// wait is drawn between half and all of that (jitter).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// GiveUpAfter is how long after it was queued a notification that
	// still fails is given up (default 24h).
	GiveUpAfter time.Duration
	// Owner names this sender in leases (default host, process and a
	// random suffix).
	Owner string
	// Now is the clock (default time.Now); Jitter returns a number in
	// [0, 1) (default math/rand/v2).
	Now    func() time.Time
	Jitter func() float64
	// Registerer, when set, receives the delivery counters.
	Registerer prometheus.Registerer
}

// Sender delivers the notifications of the outbox: it claims the due ones
// of each channel up to the channel's concurrency, sends them, and records
// each attempt's outcome: sent; queued again after a backoff (transient
// failures, honouring a Retry-After); or given up (a permanent failure,
// or GiveUpAfter passed), with the error kept. A crash between a send and
// its record sends the notification again when its lease ends: delivery
// is at least once, and every message carries its dedup key so receivers
// can drop a repeat.
type Sender struct {
	o   SenderOptions
	log *slog.Logger

	mu       sync.Mutex
	inFlight map[string]int
	// notBefore is, per rate-limited channel, when the next notification
	// may be claimed.
	notBefore map[string]time.Time
	wg        sync.WaitGroup
	// wake is signalled when a delivery ends, so that a channel's next
	// due notification takes the freed slot at once, not at the next poll.
	wake chan struct{}

	outcomes *prometheus.CounterVec
}

// NewSender returns a sender; start it with Run.
func NewSender(o SenderOptions, logger *slog.Logger) (*Sender, error) {
	if o.Store == nil {
		return nil, errors.New("notify: sender needs a store")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 5 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Minute
	}
	o.MaxBackoff = max(o.MaxBackoff, o.InitialBackoff)
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = crand.Read(b[:])
		o.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	for name, r := range o.RateLimit {
		if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			return nil, fmt.Errorf("notify: rate limit %v of channel %s is not a positive number", r, name)
		}
	}
	s := &Sender{o: o, log: logger.With("component", "notify"), inFlight: map[string]int{}, notBefore: map[string]time.Time{},
		wake: make(chan struct{}, 1),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowwatch_notification_attempts_total",
			Help: "Notification delivery attempts by channel and outcome (sent, retry, failed: given up).",
		}, []string{"channel", "outcome"})}
	if o.Registerer != nil {
		if err := o.Registerer.Register(s.outcomes); err != nil {
			return nil, fmt.Errorf("notify: register metrics: %w", err)
		}
	}
	return s, nil
}

// Run delivers due notifications until ctx ends, then waits for the
// deliveries in flight (each bounded by its channel's timeout) to be
// recorded.
func (s *Sender) Run(ctx context.Context) error {
	defer s.wg.Wait()
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	for {
		if err := s.Dispatch(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("dispatch_failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}

// Wait waits for the deliveries in flight.
func (s *Sender) Wait() { s.wg.Wait() }

// Dispatch claims the due notifications of every channel, as many as the
// channel has free delivery slots, and starts delivering them.
func (s *Sender) Dispatch(ctx context.Context) error {
	now := s.o.Now()
	var errs []error
	if s.o.Flush != nil {
		if _, err := s.o.Flush(ctx, now); err != nil {
			errs = append(errs, fmt.Errorf("flush alert groups: %w", err))
		}
	}
	channels, err := s.o.Store.DueChannels(ctx, now)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("read due channels: %w", err))...)
	}
	for _, name := range channels {
		limit := s.o.Concurrency[name]
		if limit <= 0 {
			limit = 4
		}
		rate := s.o.RateLimit[name]
		s.mu.Lock()
		free := limit - s.inFlight[name]
		if rate > 0 {
			if now.Before(s.notBefore[name]) {
				free = 0
			}
			// As many as the rate allows in one poll, at least one.
			free = min(free, max(1, int(rate*s.o.Poll.Seconds())))
		}
		s.mu.Unlock()
		if free <= 0 {
			continue // a slow or rate-limited channel waits for its own turn only
		}
		ns, err := s.o.Store.ClaimNotifications(ctx, s.o.Owner, name, now, s.o.Lease, free)
		if err != nil {
			errs = append(errs, fmt.Errorf("claim notifications of channel %s: %w", name, err))
			continue
		}
		s.mu.Lock()
		s.inFlight[name] += len(ns)
		if rate > 0 && len(ns) > 0 {
			s.notBefore[name] = now.Add(time.Duration(float64(len(ns)) / rate * float64(time.Second)))
		}
		s.mu.Unlock()
		for _, n := range ns {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					s.inFlight[name]--
					s.mu.Unlock()
					select {
					case s.wake <- struct{}{}:
					default: // a wake-up is pending already
					}
				}()
				s.deliver(ctx, n)
			}()
		}
	}
	return errors.Join(errs...)
}

// deliver sends one claimed notification and records the outcome. The
// send and its record are not cut short by ctx ending (shutdown): the
// channel's timeout and the lease bound them.
func (s *Sender) deliver(ctx context.Context, n model.Notification) {
	log := s.log.With("notification", n.ID, "channel", n.Channel, "alert", n.AlertID, "event", n.Event, "attempt", n.Attempts)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.Lease/2)
	defer cancel()
	var err error
	ch, ok := s.o.Channels[n.Channel]
	if ok {
		err = safeSend(dctx, ch, n)
	} else {
		err = Permanent(fmt.Errorf("channel %q is not configured (channels: in the server configuration)", n.Channel))
	}

	now := s.o.Now()
	status, next, msg := model.NotificationSent, time.Time{}, ""
	switch {
	case err == nil:
	case IsPermanent(err):
		status, msg = model.NotificationFailed, "gave up: "+err.Error()
	case now.Sub(n.CreatedAt) >= s.o.GiveUpAfter:
		status, msg = model.NotificationFailed, fmt.Sprintf("gave up after %d attempts over %s: %v", n.Attempts, s.o.GiveUpAfter, err)
	default:
		status, msg, next = model.NotificationPending, err.Error(), now.Add(s.backoff(n.Attempts))
		if d, ok := RetryAfter(err); ok && now.Add(d).After(next) {
			next = now.Add(min(d, s.o.MaxBackoff))
		}
	}
	// The record gets time of its own: a send that used all of its time
	// is still recorded.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer scancel()
	if err := s.o.Store.SettleNotification(sctx, n.ID, s.o.Owner, status, next, msg, now); err != nil {
		log.Error("notification_settle_failed", "err", err)
		return
	}
	switch status {
	case model.NotificationSent:
		s.outcomes.WithLabelValues(n.Channel, "sent").Inc()
	case model.NotificationPending:
		s.outcomes.WithLabelValues(n.Channel, "retry").Inc()
		log.Warn("notification_retry", "err", msg, "next_attempt", next)
	default:
		s.outcomes.WithLabelValues(n.Channel, "failed").Inc()
		log.Error("notification_failed", "err", msg)
	}
}

// backoff is the wait after a failed attempt: InitialBackoff doubled per
// earlier attempt, at most MaxBackoff, drawn between half and all of it.
func (s *Sender) backoff(attempt int) time.Duration {
	d := s.o.InitialBackoff
	for i := 1; i < attempt && d < s.o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.o.MaxBackoff)
	return d/2 + time.Duration(s.o.Jitter()*float64(d/2))
}

// Test sends a test notification to a channel now, bypassing the outbox,
// and returns what the channel answered. It does not retry.
func (s *Sender) Test(ctx context.Context, name string, recipients []string) error {
	ch, ok := s.o.Channels[name]
	if !ok {
		return fmt.Errorf("channel %q: %w", name, ErrUnknownChannel)
	}
	now := s.o.Now().UTC()
	var b [8]byte
	_, _ = crand.Read(b[:])
	id := "test-" + hex.EncodeToString(b[:])
	n := model.Notification{ID: id, Channel: name, Recipients: recipients, Event: model.EventTest, DedupKey: id,
		CreatedAt: now, Message: model.AlertMessage{Event: model.EventTest, Monitor: "flowwatch", Kind: model.EventTest,
			Summary: "a test notification from flowwatch: this channel works", FiredAt: now}}
	// A channel's errors name it already.
	return safeSend(ctx, ch, n)
}

// safeSend sends n, turning a panic in a channel into an error.
func safeSend(ctx context.Context, ch Channel, n model.Notification) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = Permanent(fmt.Errorf("panic: %v", p))
		}
	}()
	return ch.Send(ctx, n)
}

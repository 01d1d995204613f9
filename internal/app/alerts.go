package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowwatch/flowwatch/internal/alert"
	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/notify"
	"github.com/flowwatch/flowwatch/internal/store"
)

// channels are the notification channels of the configuration, ready to
// send, with their delivery concurrency; the monitors' inline e-mail
// addresses go through model.EmailsChannel when smtp is configured.
type channels struct {
	byName      map[string]notify.Channel
	concurrency map[string]int
	// rate is the rate limit of each channel that has one (messages per
	// second).
	rate  map[string]float64
	infos []api.ChannelInfo
	// maxTimeout is the longest delivery timeout of a channel.
	maxTimeout time.Duration
}

// lease is how long the sender holds a notification it delivers: long
// enough for the slowest channel's timeout twice over (the sender bounds a
// delivery at half its lease), and at least two minutes.
func (c channels) lease() time.Duration {
	return max(2*time.Minute, 2*c.maxTimeout+30*time.Second)
}

// buildChannels makes the configured channels, reading their secrets from
// the environment. Config.Validate has checked them; an error here names
// the channel.
func buildChannels(cfg config.Config, logger *slog.Logger) (channels, error) {
	out := channels{byName: map[string]notify.Channel{}, concurrency: map[string]int{}, rate: map[string]float64{}}
	lookup := os.LookupEnv
	publicURL := cfg.HTTP.PublicURL
	var emailBase notify.EmailOptions
	if s := cfg.SMTP; s != nil {
		password, err := s.Password(lookup)
		if err != nil {
			return channels{}, fmt.Errorf("smtp: %w", err)
		}
		emailBase = notify.EmailOptions{Host: s.Host, Port: s.EffectivePort(), TLS: s.TLSMode(), Username: s.Username,
			Password: password, From: s.From, Timeout: s.SendTimeout(), PublicURL: publicURL}
		o := emailBase
		o.Name = model.EmailsChannel
		ch, err := notify.NewEmail(o, logger)
		if err != nil {
			return channels{}, fmt.Errorf("smtp: %w", err)
		}
		out.byName[model.EmailsChannel] = ch
		out.concurrency[model.EmailsChannel] = config.DefaultChannelConcurrency
		out.maxTimeout = s.SendTimeout()
	}
	names := make([]string, 0, len(cfg.Channels))
	for name := range cfg.Channels {
		names = append(names, name)
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		c := cfg.Channels[name]
		ch, err := buildChannel(name, c, emailBase, cfg.SMTP != nil, publicURL, logger)
		if err != nil {
			errs = append(errs, fmt.Errorf("channels.%s: %w", name, err))
			continue
		}
		out.byName[name] = ch
		out.concurrency[name] = c.Concurrency()
		if r := c.Rate(); r > 0 {
			out.rate[name] = r
		}
		out.maxTimeout = max(out.maxTimeout, c.DeliveryTimeout())
		out.infos = append(out.infos, api.ChannelInfo{Name: name, Type: c.Type, URL: c.DisplayURL(), Recipients: slices.Clone(c.To)})
	}
	return out, errors.Join(errs...)
}

func buildChannel(name string, c config.Channel, emailBase notify.EmailOptions, smtp bool, publicURL string, logger *slog.Logger) (notify.Channel, error) {
	lookup := os.LookupEnv
	if c.Type == notify.TypeEmail {
		if !smtp {
			return nil, errors.New("an email channel needs smtp: in the configuration")
		}
		o := emailBase
		o.Name, o.To, o.Timeout = name, slices.Clone(c.To), c.DeliveryTimeout()
		return notify.NewEmail(o, logger)
	}
	url, err := c.Endpoint(lookup)
	if err != nil {
		return nil, err
	}
	secret, err := c.SigningKey(lookup)
	if err != nil {
		return nil, err
	}
	header, err := c.Header(lookup)
	if err != nil {
		return nil, err
	}
	headers := map[string]string{}
	for k := range header {
		headers[k] = header.Get(k)
	}
	o := notify.WebhookOptions{Name: name, Type: c.Type, URL: url, Headers: headers, Secret: secret,
		Timeout: c.DeliveryTimeout(), PublicURL: publicURL}
	if c.Type == notify.TypePagerDuty {
		if o.RoutingKey, err = c.RoutingKey(lookup); err != nil {
			return nil, err
		}
	}
	return notify.NewWebhook(o, logger)
}

// alertDecider returns the alert decision of a run's end. A decision that
// cannot be made (a monitor stored with an unreadable repeat_interval) is
// logged and made without reminders, rather than keeping the run from
// ending.
func alertDecider(timing func(string) model.GroupTiming, logger *slog.Logger) func(model.Run, model.Monitor, *model.RunResult, []model.Instance, string, time.Time) store.AlertDecider {
	d := alert.Decider{Timing: timing}
	return func(run model.Run, m model.Monitor, res *model.RunResult, instances []model.Instance, runErr string, now time.Time) store.AlertDecider {
		in := alert.Input{Run: run, Monitor: m, Result: res, Instances: instances, Error: runErr, Now: now}
		return func(snap store.AlertSnapshot) (store.AlertChanges, error) {
			changes, err := d.Decide(in, snap)
			if err != nil {
				logger.Error("alert_decision_failed", "monitor", m.Name, "run", run.ID, "err", err)
				in.Monitor.Alerting.RepeatInterval = ""
				return d.Decide(in, snap)
			}
			return changes, nil
		}
	}
}

// groupTiming returns the group timing of each target: a channel's
// group_wait, group_interval and repeat_interval, or smtp's for monitors'
// notify.emails.
func groupTiming(cfg config.Config) func(string) model.GroupTiming {
	return func(target string) model.GroupTiming {
		if target == model.EmailsChannel {
			if cfg.SMTP == nil {
				return model.GroupTiming{}
			}
			return cfg.SMTP.Timing()
		}
		return cfg.Channels[target].Timing()
	}
}

// maxFlush bounds the groups one dispatch of the sender flushes; more
// wait for the next.
const maxFlush = 100

// flushGroups queues the messages of the alert groups due at now: the
// store takes each due group and, in one transaction, writes back what
// alert.Flush decided under the monitor's silences and queues its
// messages.
func flushGroups(st store.AlertGroups) func(context.Context, time.Time) (int, error) {
	return func(ctx context.Context, now time.Time) (int, error) {
		return st.FlushAlertGroups(ctx, now, maxFlush, func(g model.AlertGroup, silences []model.Silence) (model.AlertGroup, []model.Notification, error) {
			g, ns := alert.Flush(g, silences, now)
			return g, ns, nil
		})
	}
}

// alertCollector shows on /metrics the firing alerts of each monitor and
// the notifications queued for each channel, read from the store at each
// scrape: "monitor the monitor" (a queue that grows is a channel that
// does not take its notifications).
type alertCollector struct {
	stats          store.AlertStats
	firing, queued *prometheus.Desc
}

func newAlertCollector(stats store.AlertStats) alertCollector {
	return alertCollector{stats: stats,
		firing: prometheus.NewDesc("flowwatch_alerts_firing", "Firing alerts by monitor (monitors without any are not listed).", []string{"monitor"}, nil),
		queued: prometheus.NewDesc("flowwatch_notifications_queued", "Notifications waiting in the outbox (due, or waiting to be tried again) by channel; channels without any are not listed.", []string{"channel"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c alertCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.firing
	ch <- c.queued
}

// Collect implements prometheus.Collector.
func (c alertCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, g := range []struct {
		desc *prometheus.Desc
		read func(context.Context) (map[string]int, error)
	}{{c.firing, c.stats.FiringAlerts}, {c.queued, c.stats.QueuedNotifications}} {
		counts, err := g.read(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(g.desc, err)
			continue
		}
		for name, n := range counts {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n), name)
		}
	}
}

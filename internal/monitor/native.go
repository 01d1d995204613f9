package monitor

import (
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
)

// decodeNative reads a monitor in flowwatch's own form. Every key is one of
// model.Monitor's; any other key is a problem naming its line.
func decodeNative(root *node, d *decoder) model.Monitor {
	m := defaults()
	top := d.object(root, root.pos, "", "")

	if v, ok := top.str("name", "name"); ok {
		m.Name = v
	}
	if v, ok := top.str("description", "description"); ok {
		m.Description = v
	}
	if v, ok := top.boolean("disabled", "disabled"); ok {
		m.Disabled = v
	}

	target, _ := top.child("target", "target")
	if v, ok := target.str("service", "target.service"); ok {
		m.Target.Service = v
	}
	if v, ok := target.str("deployment", "target.deployment"); ok {
		m.Target.Deployment = v
	}
	target.done()

	schedule, _ := top.child("schedule", "schedule")
	if v, ok := schedule.str("cron", "schedule.cron"); ok {
		m.Schedule.Cron = v
	}
	if v, ok := schedule.str("timezone", "schedule.timezone"); ok {
		m.Schedule.Timezone = v
	}
	if rec, f := schedule.child("recurrence", "schedule.recurrence"); f != nil && f.val.kind != kindNull && rec.present() {
		r := &model.Recurrence{}
		if v, ok := rec.str("frequency", "schedule.recurrence.frequency"); ok {
			r.Frequency = strings.ToLower(v)
		}
		if v, ok := rec.integer("interval", "schedule.recurrence.interval"); ok {
			r.Interval = v
		}
		if v, ok := rec.ints("hours", "schedule.recurrence.hours"); ok {
			r.Hours = v
		}
		if v, ok := rec.ints("minutes", "schedule.recurrence.minutes"); ok {
			r.Minutes = v
		}
		if v, ok := rec.strs("week_days", "schedule.recurrence.week_days"); ok {
			r.WeekDays = lowerAll(v)
		}
		rec.done()
		m.Schedule.Recurrence = r
	}
	schedule.done()

	window, _ := top.child("window", "window")
	if v, ok := window.str("lookback", "window.lookback"); ok {
		m.Window.Lookback = v
	}
	if v, ok := window.str("offset", "window.offset"); ok {
		m.Window.Offset = v
	}
	window.done()

	if v, ok := top.num("sampling_rate", "sampling_rate"); ok {
		m.SamplingRate = v
	}

	columns, _ := top.child("columns", "columns")
	if v, ok := columns.str("prompt", "columns.prompt"); ok {
		m.Columns.Prompt = v
	}
	if v, ok := columns.str("completion", "columns.completion"); ok {
		m.Columns.Completion = v
	}
	if v, ok := columns.str("context", "columns.context"); ok {
		m.Columns.Context = v
	}
	if v, ok := columns.str("ground_truth", "columns.ground_truth"); ok {
		m.Columns.GroundTruth = v
	}
	columns.done()

	if v, ok := top.str("judge", "judge"); ok {
		m.Judge = v
	}

	if budget, f := top.child("budget", "budget"); f != nil && f.val.kind != kindNull && budget.present() {
		b := &model.RunBudget{}
		if v, ok := budget.integer("max_tokens", "budget.max_tokens"); ok {
			b.MaxTokens = int64(v)
		}
		if v, ok := budget.num("max_cost_usd", "budget.max_cost_usd"); ok {
			b.MaxCostUSD = v
		}
		budget.done()
		m.Budget = b
	}

	quality, _ := top.child("quality", "quality")
	for _, f := range quality.all() {
		native := join("quality", f.key)
		t := d.object(f.val, f.pos, native, native)
		th := model.QualityThreshold{
			PassScore:   t.numPtr("pass_score", native+".pass_score"),
			MinPassRate: t.numPtr("min_pass_rate", native+".min_pass_rate"),
			MinAverage:  t.numPtr("min_average", native+".min_average"),
		}
		t.done()
		if m.Quality == nil {
			m.Quality = map[string]model.QualityThreshold{}
		}
		m.Quality[f.key] = th
	}

	operational, _ := top.child("operational", "operational")
	for _, f := range operational.all() {
		native := join("operational", f.key)
		b := d.object(f.val, f.pos, native, native)
		bound := model.Bound{
			Max: b.numPtr("max", native+".max"),
			Min: b.numPtr("min", native+".min"),
		}
		b.done()
		if m.Operational == nil {
			m.Operational = map[string]model.Bound{}
		}
		m.Operational[f.key] = bound
	}

	alerting, _ := top.child("alerting", "alerting")
	if v, ok := alerting.integer("for_runs", "alerting.for_runs"); ok {
		m.Alerting.ForRuns = v
	}
	if v, ok := alerting.str("repeat_interval", "alerting.repeat_interval"); ok {
		m.Alerting.RepeatInterval = v
	}
	if v, ok := alerting.str("no_data", "alerting.no_data"); ok {
		m.Alerting.NoData = v
	}
	alerting.done()

	notify, _ := top.child("notify", "notify")
	if v, ok := notify.strs("emails", "notify.emails"); ok {
		m.Notify.Emails = v
	}
	if v, ok := notify.strs("channels", "notify.channels"); ok {
		m.Notify.Channels = v
	}
	notify.done()

	top.done()
	return m
}

func lowerAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(strings.TrimSpace(s))
	}
	return out
}

package monitor

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Signal types of the reference form.
const (
	signalQuality = "generation_safety_quality"
	signalTokens  = "generation_token_statistics"
)

// gsqThresholdsProperty holds per-metric thresholds that metric_thresholds
// cannot express (average scores), as a JSON list.
const gsqThresholdsProperty = "azureml.modelmonitor.gsq_thresholds"

// otherSignalTypes are signal types of the reference platform that have no
// flowwatch equivalent; a file that has them still applies, with a warning.
var otherSignalTypes = [...]string{
	"data_drift", "prediction_drift", "data_quality", "feature_attribution_drift",
	"model_performance", "custom",
}

// judgedByGSQ are the metrics a generation_safety_quality signal has.
var judgedByGSQ = [...]string{"groundedness", "relevance", "coherence", "fluency", "similarity"}

// translate reads a monitor in the reference platform's schedule form and
// returns its native equivalent. Problems name the reference file's own
// key paths; keys that mean nothing to flowwatch are accepted and listed
// in the warnings.
func translate(root *node, d *decoder) model.Monitor {
	m := defaults()
	top := d.object(root, root.pos, "", "")
	top.get("$schema") // names the platform's JSON schema; nothing to read
	top.will("name", "name")
	if v, ok := top.str("name", "name"); ok {
		m.Name = v
	}
	if v, ok := top.str("description", "description"); ok {
		m.Description = v
	}
	top.ignore("display_name", "flowwatch shows monitors by name")
	top.ignore("tags", "flowwatch monitors have no tags")
	top.ignore("properties", "schedule properties have no meaning for flowwatch")

	translateTrigger(top, d, &m)

	cm, _ := top.child("create_monitor", "")
	cm.ignore("compute", "flowwatch runs monitors itself; there is no compute to choose")

	mt, _ := cm.child("monitoring_target", "target")
	mt.ignore("ml_task", "flowwatch judges questions and answers whatever the task")
	mt.ignore("model_id", "flowwatch monitors a deployed service, named by endpoint_deployment_id")
	mt.will("endpoint_deployment_id", "target.service")
	mt.will("endpoint_deployment_id", "target.deployment")
	if v, ok := mt.str("endpoint_deployment_id", "target.service"); ok {
		shown := join(mt.shown, "endpoint_deployment_id")
		d.at("target.deployment", shown, d.locs["target.service"].pos)
		if svc, dep, ok := parseEndpoint(v); ok {
			m.Target = model.MonitorTarget{Service: svc, Deployment: dep}
		} else {
			d.fail("target.service", shown, d.locs["target.service"].pos,
				"%q is not an endpoint deployment id; write azureml:<endpoint>:<deployment>, e.g. azureml:rag-endpoint:blue", clip(v))
		}
	}
	mt.done()

	signals, _ := cm.child("monitoring_signals", "")
	d.at("quality", signals.shown, signals.pos)
	d.at("operational", signals.shown, signals.pos)
	var quality, tokens []*object
	for _, f := range signals.all() {
		shown := join(signals.shown, f.key)
		so := d.object(f.val, f.pos, "", shown)
		if !so.present() {
			continue
		}
		typ, _ := so.str("type", "")
		switch {
		case typ == signalQuality:
			quality = append(quality, so)
		case typ == signalTokens:
			tokens = append(tokens, so)
		case slices.Contains(otherSignalTypes[:], typ):
			so.all()
			d.warn(shown, "ignored: flowwatch does not compute %s signals (it computes %s and %s)", typ, signalQuality, signalTokens)
		case typ == "":
			so.all()
			d.fail("", join(shown, "type"), so.pos, "required: %s or %s", signalQuality, signalTokens)
		default:
			so.all()
			d.fail("", join(shown, "type"), so.n.lookup("type").val.pos, "unknown signal type %q; flowwatch reads %s and %s signals", clip(typ), signalQuality, signalTokens)
		}
	}
	for _, extra := range quality[min(1, len(quality)):] {
		extra.all()
		d.fail("", extra.shown, extra.pos, "flowwatch monitors have one quality signal; split into several monitors (this file already has %s)", quality[0].shown)
	}
	for _, extra := range tokens[min(1, len(tokens)):] {
		extra.all()
		d.fail("", extra.shown, extra.pos, "flowwatch monitors have one token statistics signal; split into several monitors (this file already has %s)", tokens[0].shown)
	}
	if len(quality) == 0 && len(tokens) == 0 {
		d.fail("quality", signals.shown, signals.pos, "nothing to check: add a %s signal (LLM-judged quality) or a %s signal (token usage)", signalQuality, signalTokens)
		d.bad["window"] = true // a window comes with a signal
	}
	if len(quality) > 0 {
		translateQuality(quality[0], d, &m)
	}
	if len(tokens) > 0 {
		// The window and columns come from the quality signal when it has them.
		translateTokens(tokens[0], d, &m, len(quality) == 0 || quality[0].n.lookup("production_data") == nil)
	}

	if f := cm.get("alert_notification"); f != nil {
		shown := join(cm.shown, "alert_notification")
		if f.val.kind == kindScalar {
			d.warn(shown, "ignored: %q is the platform's own alerting; flowwatch notifies e-mail addresses and channels (notify: in the native form)", clip(f.val.text))
		} else {
			an := d.object(f.val, f.pos, "notify", shown)
			if v, ok := an.strs("emails", "notify.emails"); ok {
				m.Notify.Emails = v
			}
			an.done()
		}
	}
	cm.done()
	top.done()
	return m
}

func translateTrigger(top *object, d *decoder, m *model.Monitor) {
	tr, tf := top.child("trigger", "schedule")
	if tf == nil || tf.val.kind == kindNull {
		d.fail("schedule", "trigger", tr.pos, `required: when the monitor runs, e.g. trigger: {type: cron, expression: "*/5 * * * *"}`)
		return
	}
	if !tr.present() {
		return
	}
	tr.ignore("start_time", "flowwatch runs a monitor from when it is applied until it is disabled or deleted")
	tr.ignore("end_time", "flowwatch runs a monitor from when it is applied until it is disabled or deleted")
	if v, ok := tr.str("time_zone", "schedule.timezone"); ok {
		m.Schedule.Timezone = v
		if iana, ok := windowsZone(v); ok {
			m.Schedule.Timezone = iana
			d.warn(join(tr.shown, "time_zone"), "%q read as the time zone %s", v, iana)
		}
	}
	typ, _ := tr.str("type", "")
	switch strings.ToLower(typ) {
	case "cron":
		tr.will("expression", "schedule.cron")
		if v, ok := tr.str("expression", "schedule.cron"); ok {
			m.Schedule.Cron = v
		} else {
			d.fail("schedule", join(tr.shown, "expression"), tr.pos, `required for a cron trigger, e.g. expression: "*/5 * * * *"`)
		}
	case "recurrence":
		r := &model.Recurrence{}
		tr.will("frequency", "schedule.recurrence.frequency")
		tr.will("interval", "schedule.recurrence.interval")
		if v, ok := tr.str("frequency", "schedule.recurrence.frequency"); ok {
			r.Frequency = strings.ToLower(v)
		}
		if v, ok := tr.integer("interval", "schedule.recurrence.interval"); ok {
			r.Interval = v
		}
		sch, _ := tr.child("schedule", "")
		if v, ok := sch.ints("hours", "schedule.recurrence.hours"); ok {
			r.Hours = v
		}
		if v, ok := sch.ints("minutes", "schedule.recurrence.minutes"); ok {
			r.Minutes = v
		}
		if v, ok := sch.strs("week_days", "schedule.recurrence.week_days"); ok {
			r.WeekDays = lowerAll(v)
		}
		if f := sch.get("month_days"); f != nil {
			d.fail("", join(sch.shown, "month_days"), f.pos, `month days are not supported; use a cron trigger instead, e.g. type: cron, expression: "0 6 1 * *" (06:00 on the 1st of each month)`)
		}
		sch.done()
		m.Schedule.Recurrence = r
	case "":
		tr.all()
		d.fail("schedule", join(tr.shown, "type"), tr.pos, "required: cron or recurrence")
	default:
		tr.all()
		d.fail("schedule", join(tr.shown, "type"), tr.n.lookup("type").val.pos, "must be cron or recurrence, not %q", clip(typ))
	}
	tr.done()
}

func translateQuality(so *object, d *decoder, m *model.Monitor) {
	so.will("metric_thresholds", "quality")
	so.will("connection_id", "judge")
	so.will("sampling_rate", "sampling_rate")

	key := "connection_id"
	if so.n.lookup(key) == nil && so.n.lookup("workspace_connection_id") != nil {
		key = "workspace_connection_id"
	}
	if so.n.lookup("connection_id") != nil && so.n.lookup("workspace_connection_id") != nil {
		so.get("workspace_connection_id")
		d.fail("judge", join(so.shown, "workspace_connection_id"), so.n.lookup("workspace_connection_id").pos,
			"set connection_id or the older workspace_connection_id, not both")
	}
	so.known = append(so.known, "connection_id", "workspace_connection_id")
	if v, ok := so.str(key, "judge"); ok {
		if name := connectionName(v); name != "" {
			m.Judge = name
		} else {
			d.fail("judge", join(so.shown, key), d.locs["judge"].pos, "%q names no connection; write the connection's id, ending in /connections/<name>", clip(v))
		}
	}
	if v, ok := so.num("sampling_rate", "sampling_rate"); ok {
		m.SamplingRate = v
	}
	alertEnabled(so, d)
	translateProductionData(so, d, m, true)

	mt, _ := so.child("metric_thresholds", "quality")
	for _, f := range mt.all() {
		shown := join(mt.shown, f.key)
		if !slices.Contains(judgedByGSQ[:], f.key) {
			d.fail("", shown, f.pos, "unknown metric %q; a %s signal has %s", clip(f.key), signalQuality, strings.Join(judgedByGSQ[:], ", "))
			continue
		}
		native := join("quality", f.key)
		t := d.object(f.val, f.pos, native, shown)
		th := m.Quality[f.key]
		th.MinPassRate = t.numPtr("aggregated_"+f.key+"_pass_rate", native+".min_pass_rate")
		th.PassScore = t.numPtr("acceptable_"+f.key+"_score_per_instance", native+".pass_score")
		t.done()
		setQuality(m, f.key, th)
	}

	props, pf := so.child("properties", "")
	if pf != nil {
		props.ignore("aoai_deployment_name", "the judge's model deployment is set on its connection in the server config (judges:)")
		props.ignore("enable_action_analyzer", "flowwatch has no action analyzer")
		if f := props.get(gsqThresholdsProperty); f != nil {
			gsqThresholds(f, join(props.shown, gsqThresholdsProperty), d, m)
		}
		for _, f := range props.rest() {
			d.warn(join(props.shown, f.key), "ignored: this property has no meaning for flowwatch")
		}
	}
	so.done()
}

func setQuality(m *model.Monitor, name string, th model.QualityThreshold) {
	if m.Quality == nil {
		m.Quality = map[string]model.QualityThreshold{}
	}
	m.Quality[name] = th
}

// gsqThresholds reads the JSON list of the gsq_thresholds property:
// [{"metricName":"average_fluency","threshold":{"value":4}}, ...].
func gsqThresholds(f *field, shown string, d *decoder, m *model.Monitor) {
	const example = `[{"metricName":"average_fluency","threshold":{"value":4}}]`
	if f.val.kind != kindScalar {
		d.fail("", shown, f.val.pos, "must be a JSON list in a string, e.g. '%s'", example)
		return
	}
	var entries []struct {
		MetricName string `json:"metricName"`
		Threshold  struct {
			Value *float64 `json:"value"`
		} `json:"threshold"`
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(f.val.text)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		d.fail("", shown, f.val.pos, "must be a JSON list like '%s': %v", example, err)
		return
	}
	p := f.val.pos
	for i, e := range entries {
		item := index(shown, i)
		metric, key, ok := parseMetricName(e.MetricName)
		if !ok {
			d.fail("", join(item, "metricName"), p, "unknown metricName %q; write average_<metric>, aggregated_<metric>_pass_rate or acceptable_<metric>_score_per_instance, where <metric> is one of %s", clip(e.MetricName), strings.Join(judgedByGSQ[:], ", "))
			continue
		}
		if e.Threshold.Value == nil {
			d.fail("", item+".threshold.value", p, "required: the threshold's number")
			continue
		}
		native := join("quality", metric)
		if _, ok := m.Quality[metric]; !ok {
			d.at(native, item, p)
		}
		d.at(native+"."+key, item+".threshold.value", p)
		th := m.Quality[metric]
		v := *e.Threshold.Value
		target := &th.MinAverage
		switch key {
		case "min_pass_rate":
			target = &th.MinPassRate
		case "pass_score":
			target = &th.PassScore
		}
		if *target != nil && **target != v {
			d.fail(native+"."+key, item+".threshold.value", p, "sets %s %s to %s, but it is already %s; keep one", metric, key, fnum(v), fnum(**target))
			continue
		}
		*target = &v
		setQuality(m, metric, th)
	}
}

// parseMetricName reads average_<metric>, aggregated_<metric>_pass_rate
// and acceptable_<metric>_score_per_instance into the metric and its
// native threshold key.
func parseMetricName(s string) (metric, key string, ok bool) {
	switch {
	case strings.HasPrefix(s, "average_"):
		metric, key = strings.TrimPrefix(s, "average_"), "min_average"
	case strings.HasPrefix(s, "aggregated_") && strings.HasSuffix(s, "_pass_rate"):
		metric, key = strings.TrimSuffix(strings.TrimPrefix(s, "aggregated_"), "_pass_rate"), "min_pass_rate"
	case strings.HasPrefix(s, "acceptable_") && strings.HasSuffix(s, "_score_per_instance"):
		metric, key = strings.TrimSuffix(strings.TrimPrefix(s, "acceptable_"), "_score_per_instance"), "pass_score"
	default:
		return "", "", false
	}
	return metric, key, slices.Contains(judgedByGSQ[:], metric)
}

func translateTokens(so *object, d *decoder, m *model.Monitor, window bool) {
	so.will("metric_thresholds", "operational")
	so.ignore("sampling_rate", "token statistics count every request of the window, not a sample")
	alertEnabled(so, d)
	translateProductionData(so, d, m, window)

	mt, _ := so.child("metric_thresholds", "operational")
	read := func(o *object) {
		for _, s := range []struct{ key, signal string }{
			{"total_token_count", "total_tokens"},
			{"total_token_count_per_group", "total_tokens_per_group"},
		} {
			native := join("operational", s.signal)
			if v := o.numPtr(s.key, native+".max"); v != nil {
				d.at(native, d.locs[native+".max"].shown, d.locs[native+".max"].pos)
				if m.Operational == nil {
					m.Operational = map[string]model.Bound{}
				}
				m.Operational[s.signal] = model.Bound{Max: v}
			}
		}
	}
	read(mt)
	if tt, f := mt.child("totaltoken", ""); f != nil {
		read(tt)
		tt.done()
	}
	mt.done()
	if len(m.Operational) == 0 {
		d.warn(so.shown, "no total_token_count or total_token_count_per_group threshold: this signal checks nothing")
	}
	props, _ := so.child("properties", "")
	for _, f := range props.rest() {
		d.warn(join(props.shown, f.key), "ignored: this property has no meaning for flowwatch")
	}
	so.done()
}

func alertEnabled(so *object, d *decoder) {
	if v, ok := so.boolean("alert_enabled", ""); ok && !v {
		d.warn(join(so.shown, "alert_enabled"), "ignored: flowwatch alerts per monitor; to send no notifications, leave out alert_notification")
	}
}

// translateProductionData reads the one production data item: its window
// and column names (when use is false, another signal already gave them).
func translateProductionData(so *object, d *decoder, m *model.Monitor, use bool) {
	shown := join(so.shown, "production_data")
	item0 := index(shown, 0)
	if use {
		d.at("window", shown, so.pos)
		d.at("window.lookback", join(join(item0, "data_window"), "lookback_window_size"), so.pos)
		d.at("window.offset", join(join(item0, "data_window"), "lookback_window_offset"), so.pos)
		d.at("columns", join(item0, "data_column_names"), so.pos)
	}
	f := so.get("production_data")
	if f == nil || f.val.kind == kindNull {
		return
	}
	if !use {
		d.warn(shown, "ignored: the monitor's window and columns come from its %s signal", signalQuality)
		return
	}
	if f.val.kind != kindSeq {
		d.fail("window", shown, f.val.pos, "must be a list with one item (data_window, data_column_names), not %s", describe(f.val))
		return
	}
	items := f.val.items
	if len(items) == 0 {
		return
	}
	for i, extra := range items[1:] {
		d.fail("", index(shown, i+1), extra.pos, "flowwatch reads one production data source, the target's traces; keep one item")
	}
	it := d.object(items[0], items[0].pos, "", item0)
	d.at("window", item0, it.pos)
	d.at("window.lookback", join(join(item0, "data_window"), "lookback_window_size"), it.pos)
	d.at("window.offset", join(join(item0, "data_window"), "lookback_window_offset"), it.pos)
	d.at("columns", join(item0, "data_column_names"), it.pos)
	it.ignore("input_data", "flowwatch reads the target's traces from its own store")
	it.ignore("data_context", "flowwatch reads the target's traces from its own store")
	it.ignore("pre_processing_component", "flowwatch reads traces directly; nothing pre-processes them")

	if it.n.lookup("data_window") != nil && it.n.lookup("data_window_size") != nil {
		d.fail("", join(item0, "data_window_size"), it.n.lookup("data_window_size").pos, "set data_window or the older data_window_size, not both")
	}
	if v, ok := it.str("data_window_size", "window.lookback"); ok {
		m.Window.Lookback = v
	}
	if dw, f := it.child("data_window", ""); f != nil {
		dw.will("lookback_window_size", "window.lookback")
		dw.will("lookback_window_offset", "window.offset")
		if v, ok := dw.str("lookback_window_size", "window.lookback"); ok {
			m.Window.Lookback = v
		}
		if v, ok := dw.str("lookback_window_offset", "window.offset"); ok {
			m.Window.Offset = v
		}
		for _, key := range []string{"window_start", "window_end"} {
			if f := dw.get(key); f != nil {
				d.fail("", join(dw.shown, key), f.pos, "fixed windows are not supported: a flowwatch monitor reads a rolling lookback; use lookback_window_size (e.g. P7D) and lookback_window_offset")
			}
		}
		dw.done()
	}
	co, _ := it.child("data_column_names", "columns")
	for _, c := range []struct {
		key, native string
		dst         *string
	}{
		{"prompt_column", "columns.prompt", &m.Columns.Prompt},
		{"completion_column", "columns.completion", &m.Columns.Completion},
		{"context_column", "columns.context", &m.Columns.Context},
		{"ground_truth_column", "columns.ground_truth", &m.Columns.GroundTruth},
	} {
		co.will(c.key, c.native)
		if v, ok := co.str(c.key, c.native); ok {
			*c.dst = v
		}
	}
	co.done()
	it.done()
}

// parseEndpoint reads azureml:<endpoint>:<deployment>, also without the
// azureml: prefix, and without the deployment.
func parseEndpoint(s string) (service, deployment string, ok bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "azureml:")
	parts := strings.Split(s, ":")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return parts[0], "", true
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return parts[0], parts[1], true
	}
	return "", "", false
}

// connectionName is the last path segment of a connection id:
// .../connections/aoai-connection -> aoai-connection.
func connectionName(id string) string {
	id = strings.TrimRight(strings.TrimSpace(id), "/")
	if i := strings.LastIndex(id, "/"); i >= 0 {
		id = id[i+1:]
	}
	return id
}

// windowsZone maps the Windows time zone names the reference platform
// uses to IANA names (the commonest ones; others must be written as IANA
// names).
func windowsZone(name string) (string, bool) {
	for _, z := range [...]struct{ windows, iana string }{
		{"Coordinated Universal Time", "UTC"},
		{"GMT Standard Time", "Europe/London"},
		{"W. Europe Standard Time", "Europe/Berlin"},
		{"Romance Standard Time", "Europe/Paris"},
		{"Central Europe Standard Time", "Europe/Budapest"},
		{"Central European Standard Time", "Europe/Warsaw"},
		{"E. Europe Standard Time", "Europe/Chisinau"},
		{"FLE Standard Time", "Europe/Kiev"},
		{"Eastern Standard Time", "America/New_York"},
		{"Central Standard Time", "America/Chicago"},
		{"Mountain Standard Time", "America/Denver"},
		{"US Mountain Standard Time", "America/Phoenix"},
		{"Pacific Standard Time", "America/Los_Angeles"},
		{"Alaskan Standard Time", "America/Anchorage"},
		{"Hawaiian Standard Time", "Pacific/Honolulu"},
		{"E. South America Standard Time", "America/Sao_Paulo"},
		{"India Standard Time", "Asia/Kolkata"},
		{"China Standard Time", "Asia/Shanghai"},
		{"Singapore Standard Time", "Asia/Singapore"},
		{"Tokyo Standard Time", "Asia/Tokyo"},
		{"Korea Standard Time", "Asia/Seoul"},
		{"AUS Eastern Standard Time", "Australia/Sydney"},
	} {
		if strings.EqualFold(z.windows, name) {
			return z.iana, true
		}
	}
	return "", false
}

package normalize

import (
	"math"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Deriver computes flowwatch's derived fields; it implements store.Deriver.
// The zero value is ready to use (it prices nothing) and it is safe for
// concurrent use.
type Deriver struct {
	// Prices, when set, gives the cost of a model call that reported
	// tokens but no cost.
	Prices Pricer
	// MaxTextBytes caps the derived texts (question, answer, input,
	// output, system prompt, error message), which may join several
	// values; zero means DefaultMaxValueBytes.
	MaxTextBytes int
}

// Pricer prices a model's usage; false means the model has no price.
type Pricer interface {
	Cost(model string, u model.Usage) (float64, bool)
}

// DeriveSpan recomputes span.Derived from the span's raw fields and the log
// records attached to it (ordered by time). It replaces Derived entirely,
// so it can be called again when more log records arrive, and it gives the
// same result for a span whose raw fields went through a JSON round trip.
// A cost the app reported is taken as it is; otherwise a model call with
// tokens is priced by d.Prices.
func (d Deriver) DeriveSpan(span *model.Span, logs []model.LogRecord) {
	if span == nil {
		return
	}
	var v view
	v.init(span, logs)
	span.Derived = v.derive()
	limit := d.MaxTextBytes
	if limit <= 0 {
		limit = DefaultMaxValueBytes
	}
	clipDerived(&span.Derived, max(limit, minValueBytes))
	u := &span.Derived.Usage
	if !u.CostKnown && u.Known && d.Prices != nil && span.Derived.Kind.IsModelCall() {
		u.CostUSD, u.CostKnown = d.Prices.Cost(span.Derived.Model, *u)
	}
}

// event is a span event or a log record, read alike: attributes first, then
// the fields of a map body.
type event struct {
	name  string
	attrs map[string]any
	body  map[string]any
	raw   any // the body when it is not a map
}

// fields returns the event's attributes and map body as one map (the
// attributes win on a clash).
func (e *event) fields() map[string]any {
	switch {
	case e.body == nil:
		return e.attrs
	case e.attrs == nil:
		return e.body
	}
	merged := make(map[string]any, len(e.attrs)+len(e.body))
	for k, b := range e.body {
		merged[k] = b
	}
	for k, a := range e.attrs {
		merged[k] = a
	}
	return merged
}

func (e *event) get(key string) (any, bool) {
	if v, ok := e.attrs[key]; ok && v != nil {
		return v, true
	}
	if v, ok := getPath(e.body, key); ok && v != nil {
		return v, true
	}
	return nil, false
}

// view is one derivation: the span, its log records, and caches so that
// each JSON attribute is parsed at most once.
type view struct {
	s      *model.Span
	attrs  map[string]any
	events []event
	parsed []parsedAttr // decoded JSON attributes (a handful per span)
	flat   flatIndex
	flatOK bool
	kind   model.SpanKind
	pf     bool // a promptflow span
}

// parsedAttr caches one attribute's decoding; val is nil when the string
// is not JSON.
type parsedAttr struct {
	key string
	val any
}

func (v *view) init(s *model.Span, logs []model.LogRecord) {
	*v = view{s: s, attrs: s.Attributes}
	if n := len(s.Events) + len(logs); n > 0 {
		v.events = make([]event, 0, n)
		for i := range s.Events {
			e := &s.Events[i]
			v.events = append(v.events, event{name: e.Name, attrs: e.Attributes})
		}
		for i := range logs {
			r := &logs[i]
			e := event{name: r.EventName, attrs: r.Attributes}
			if e.name == "" {
				e.name = str(r.Attributes["event.name"])
			}
			switch b := unbytes(r.Body).(type) {
			case map[string]any:
				e.body = b
			case string:
				// A JSON body is read like a map body.
				if m, ok := parseJSON(b); ok {
					if mm, ok := m.(map[string]any); ok {
						e.body = mm
						break
					}
				}
				e.raw = b
			default:
				e.raw = b
			}
			v.events = append(v.events, e)
		}
	}
	for _, k := range promptflowMarkers {
		if _, ok := v.attrs[k]; ok {
			v.pf = true
			break
		}
	}
}

// str returns the first non-empty text among the keys.
func (v *view) str(keys []string) string {
	for _, k := range keys {
		if s, ok := asString(v.attrs[k]); ok && s != "" {
			return s
		}
	}
	return ""
}

// int returns the first non-negative integer among the keys.
func (v *view) int(keys []string) (int64, bool) {
	for _, k := range keys {
		if n, ok := asInt(v.attrs[k]); ok && n >= 0 {
			return n, true
		}
	}
	return 0, false
}

// value returns an attribute decoded: a string holding JSON is parsed
// (once per derivation), other values are returned as they are. isJSON
// tells whether a string was decoded.
func (v *view) value(key string) (val any, isJSON bool, ok bool) {
	raw, ok := v.attrs[key]
	if !ok || raw == nil {
		return nil, false, false
	}
	s, isStr := unbytes(raw).(string)
	if !isStr {
		return raw, false, true
	}
	if _, isBytes := raw.([]byte); isBytes {
		raw = s
	}
	for i := range v.parsed {
		if v.parsed[i].key == key {
			if v.parsed[i].val == nil {
				return raw, false, true
			}
			return v.parsed[i].val, true, true
		}
	}
	p, isJ := parseJSON(s)
	if !isJ || p == nil {
		// Plain text (or a JSON null, read as the text "null").
		v.parsed = append(v.parsed, parsedAttr{key: key})
		return raw, false, true
	}
	v.parsed = append(v.parsed, parsedAttr{key: key, val: p})
	return p, true, true
}

// list returns a list-valued convention: the attribute itself (JSON string
// or AnyValue) or its flattened prefix.N.* keys reassembled.
func (v *view) list(key string) (any, bool) {
	if val, _, ok := v.value(key); ok {
		return val, true
	}
	if !v.flatOK {
		v.flat = buildFlatIndex(v.attrs)
		v.flatOK = true
	}
	if entries := v.flat[key]; len(entries) > 0 {
		return assembleList(entries, maxValueDepth), true
	}
	return nil, false
}

// hasList reports whether a list-valued convention is present, without
// assembling it.
func (v *view) hasList(key string) bool {
	if _, ok := v.attrs[key]; ok {
		return true
	}
	if !v.flatOK {
		v.flat = buildFlatIndex(v.attrs)
		v.flatOK = true
	}
	return len(v.flat[key]) > 0
}

func (v *view) derive() model.Derived {
	d := model.Derived{
		Service:    clipName(firstResource(v.s.ResourceAttributes, serviceKeys)),
		Deployment: clipName(firstResource(v.s.ResourceAttributes, deploymentKeys)),
	}
	if d.Service == "" {
		d.Service = defaultService
	}
	d.Operation = v.str(operationKeys)
	d.Kind = v.spanKind()
	v.kind = d.Kind

	d.Model = v.str(modelKeys)
	d.RequestModel = v.str(requestModelKeys)
	d.ResponseModel = v.str(responseModelKeys)
	d.ModelAlias = ModelAlias(d.Model)
	d.ModelParams = v.modelParams()
	d.Provider = v.provider(d.Model)
	d.Usage = v.usage()

	d.Status, d.ErrorType, d.ErrorMessage = v.status()

	d.SessionID = v.str(sessionKeys)
	if d.SessionID == "" {
		d.SessionID = firstResource(v.s.ResourceAttributes, resourceSessionKeys)
	}
	d.UserID = v.str(userKeys)

	d.InputMessages = v.messages(inputMessageSources, "user")
	d.OutputMessages = v.messages(outputMessageSources, "assistant")
	d.SystemPrompt = v.systemPrompt(d.InputMessages)

	d.Input, d.Question = v.io(inputSources, questionFields, true)
	if d.Question == "" {
		d.Question = v.str(questionExtraKeys)
	}
	if d.Question == "" {
		d.Question = lastUserText(d.InputMessages)
	}
	if d.Question == "" && len(d.InputMessages) == 0 && !emptyJSON(d.Input) {
		// An input with no recognizable text is the question as sent.
		d.Question = d.Input
	}
	d.Output, d.Answer = v.io(outputSources, answerFields, false)
	if d.Answer == "" {
		d.Answer = firstAssistantText(d.OutputMessages)
	}
	// An output with no text where an answer is (a JSON object without an
	// answer key, a list of documents, a tool call) has no answer: the
	// answer is never taken from what the output carries besides it.
	d.Context, _ = v.context()

	d.FinishReasons = v.finishReasons(d.OutputMessages)
	d.ToolName = v.str(toolNames)
	d.AgentName = v.str(agentNames)
	switch d.Kind {
	case model.KindTool:
		if d.ToolName == "" {
			d.ToolName = v.str([]string{entityNameKey})
		}
	case model.KindAgent:
		if d.AgentName == "" {
			d.AgentName = v.str([]string{entityNameKey})
		}
	}
	d.WorkflowName = v.str(workflowNames)
	d.PromptName = v.str(promptNames)
	d.PromptVersion = v.str(promptVersions)
	d.TTFT = v.ttft()
	return d
}

func firstResource(attrs map[string]any, keys []string) string {
	for _, k := range keys {
		if s, ok := asString(attrs[k]); ok && s != "" {
			return s
		}
	}
	return ""
}

// spanKind applies the kind precedence, then the heuristics.
func (v *view) spanKind() model.SpanKind {
	for _, src := range kindSources {
		s := v.str([]string{src.key})
		if s == "" {
			continue
		}
		if k, ok := src.values[strings.ToLower(s)]; ok {
			return k
		}
	}
	if v.str(toolNameKeys) != "" {
		return model.KindTool
	}
	if v.str(modelKeys) != "" {
		return model.KindLLM
	}
	return model.KindChain
}

// provider applies the provider precedence and normalization: the
// provider attributes, LangChain's ls_provider in the span's metadata, the
// endpoint's host, then the model name.
func (v *view) provider(modelName string) string {
	p := v.str(providerKeys)
	if p == "" {
		p = v.metadataProvider()
	}
	if p != "" {
		p = strings.ToLower(p)
		if n, ok := providerNames[p]; ok {
			return n
		}
		return p
	}
	if host := strings.ToLower(v.str(serverAddressKeys)); host != "" {
		for _, h := range providerHosts {
			if host == h.suffix || strings.HasSuffix(host, "."+h.suffix) {
				return h.provider
			}
		}
	}
	return providerOfModel(modelName)
}

// metadataProvider reads ls_provider from the metadata attributes: a JSON
// object or flattened metadata.ls_provider keys.
func (v *view) metadataProvider() string {
	for _, k := range providerMetadataKeys {
		if s, ok := asString(v.attrs[k.flat]); ok && s != "" {
			return s
		}
		if val, _, ok := v.value(k.key); ok {
			if m, ok := val.(map[string]any); ok {
				if s := firstString(m, providerMetadataField); s != "" {
					return s
				}
			}
		}
	}
	return ""
}

// providerOfModel guesses the provider from a model name (modelProviders).
func providerOfModel(name string) string {
	name = strings.ToLower(name)
	for _, mp := range modelProviders {
		if !strings.HasPrefix(name, mp.prefix) {
			continue
		}
		rest := name[len(mp.prefix):]
		last := mp.prefix[len(mp.prefix)-1]
		if last == '-' || rest == "" || rest[0] == '-' || rest[0] == '.' || !isAlnum(last) {
			return mp.provider
		}
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// modelParams applies the model_params precedence, on model calls only.
func (v *view) modelParams() map[string]any {
	if !v.kind.IsModelCall() {
		return nil
	}
	for _, k := range modelParamKeys {
		if val, _, ok := v.value(k); ok {
			if m, ok := val.(map[string]any); ok && len(m) > 0 {
				return canonical(m, maxValueDepth).(map[string]any)
			}
		}
	}
	var out map[string]any
	for k, val := range v.attrs {
		name, ok := strings.CutPrefix(k, requestParamPrefix)
		if !ok || name == "" || name == "model" || val == nil {
			continue
		}
		if out == nil {
			out = make(map[string]any)
		}
		out[name] = canonical(val, maxValueDepth)
	}
	return out
}

// status applies the status precedence and, for failed spans, the error
// type and message precedence.
func (v *view) status() (model.Status, string, string) {
	st := model.StatusUnset
	switch v.s.StatusCode {
	case model.StatusError, model.StatusOK:
		st = v.s.StatusCode
	default:
		if strings.EqualFold(v.str(levelKeys), "error") {
			st = model.StatusError
		} else {
			switch strings.ToLower(v.str(taskStatusKeys)) {
			case "failure":
				st = model.StatusError
			case "success":
				st = model.StatusOK
			}
		}
	}
	if st != model.StatusError {
		return st, "", ""
	}
	// The last exception recorded (span event or log record; a record
	// carrying exception attributes counts whatever its name).
	var excType, excMsg string
	for i := len(v.events) - 1; i >= 0; i-- {
		e := &v.events[i]
		t, hasType := e.get(exceptionTypeKey)
		m, hasMsg := e.get(exceptionMessageKey)
		if !exceptionEvents[e.name] && !hasType && !hasMsg {
			continue
		}
		excType, excMsg = str(t), str(m)
		break
	}
	errType := v.str(errorTypeKeys)
	if errType == "" {
		errType = excType
	}
	errMsg := excMsg
	if errMsg == "" {
		errMsg = v.s.StatusMessage
	}
	if errMsg == "" {
		errMsg = v.str(errorMessageFallbacks)
	}
	return st, errType, errMsg
}

// ttft applies the time-to-first-token precedence.
func (v *view) ttft() time.Duration {
	for _, k := range ttftSecondsKeys {
		if f, ok := asFloat(v.attrs[k]); ok && f > 0 && f < math.MaxInt64/float64(time.Second) {
			return time.Duration(f * float64(time.Second))
		}
	}
	s := v.str(completionStartKeys)
	if s == "" {
		return 0
	}
	s = strings.Trim(s, "\" ")
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	if d := t.Sub(v.s.StartTime); d > 0 {
		return d
	}
	return 0
}

// emptyJSON reports whether s is an empty JSON object, array or string, or
// null: an input or output that says nothing, so no question or answer.
func emptyJSON(s string) bool {
	switch strings.Join(strings.Fields(s), "") {
	case "{}", "[]", "null", `""`:
		return true
	}
	return false
}

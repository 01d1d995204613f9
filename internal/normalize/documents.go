package normalize

import (
	"github.com/flowwatch/flowwatch/internal/model"
)

// context applies the context_docs precedence to one span: the first source
// yielding documents wins. It returns the documents and the source's rank
// (len(contextSources) when none).
func (v *view) context() ([]model.Document, int) {
	for rank, src := range contextSources {
		if docs := v.contextFrom(src); len(docs) > 0 {
			return docs, rank
		}
	}
	return nil, len(contextSources)
}

// contextPresent reports whether the span carries a source, without
// decoding it; Summarize uses it to rank spans' documents.
func (v *view) contextPresent(src contextSource) bool {
	switch src.kind {
	case ctxFlattened:
		return v.hasList(src.key)
	case ctxAttr:
		_, ok := v.attrs[src.key]
		return ok
	case ctxEvents:
		for i := range v.events {
			if v.events[i].name == src.key {
				return true
			}
		}
	case ctxRetrieverOutput:
		if v.kind != model.KindRetriever {
			return false
		}
		for _, o := range outputSources {
			if o.promptflow && !v.pf {
				continue
			}
			if _, ok := v.attrs[o.key]; ok {
				return true
			}
		}
	case ctxDatastoreTool:
		_, ok := v.attrs[src.key]
		return ok && str(v.attrs[toolTypeKey]) == datastoreToolType
	}
	return false
}

func (v *view) contextFrom(src contextSource) []model.Document {
	switch src.kind {
	case ctxFlattened:
		if val, ok := v.list(src.key); ok {
			return docsFrom(val, maxValueDepth)
		}
	case ctxAttr:
		if val, _, ok := v.value(src.key); ok {
			return docsFrom(val, maxValueDepth)
		}
	case ctxEvents:
		var out []model.Document
		for i := range v.events {
			e := &v.events[i]
			if e.name != src.key {
				continue
			}
			if d, ok := docFrom(e.fields()); ok {
				out = append(out, d)
			}
		}
		return out
	case ctxRetrieverOutput:
		if v.kind != model.KindRetriever {
			return nil
		}
		for _, o := range outputSources {
			if o.promptflow && !v.pf {
				continue
			}
			if val, _, ok := v.value(o.key); ok {
				if docs := docsFrom(val, maxValueDepth); len(docs) > 0 {
					return docs
				}
			}
		}
	case ctxDatastoreTool:
		if str(v.attrs[toolTypeKey]) != datastoreToolType {
			return nil
		}
		if val, _, ok := v.value(src.key); ok {
			return docsFrom(val, maxValueDepth)
		}
	}
	return nil
}

// docsFrom reads documents from a decoded value: a list of documents
// (objects or strings), an object holding such a list, one document
// object, or text (JSON or a single plain document).
func docsFrom(v any, depth int) []model.Document {
	if depth <= 0 {
		return nil
	}
	switch x := unbytes(v).(type) {
	case string:
		if parsed, ok := parseJSON(x); ok {
			if _, isString := parsed.(string); !isString {
				return docsFrom(parsed, depth-1)
			}
			x = parsed.(string)
		}
		if x == "" {
			return nil
		}
		return []model.Document{{Content: x}}
	case []any:
		out := make([]model.Document, 0, len(x))
		for _, e := range x {
			switch el := unbytes(e).(type) {
			case string:
				if el != "" {
					out = append(out, model.Document{Content: el})
				}
			case map[string]any:
				if d, ok := docFrom(el); ok {
					out = append(out, d)
				}
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case map[string]any:
		for _, f := range docListFields {
			if inner, ok := x[f]; ok {
				if docs := docsFrom(inner, depth-1); len(docs) > 0 {
					return docs
				}
			}
		}
		if d, ok := docFrom(x); ok {
			return []model.Document{d}
		}
	}
	return nil
}

// docFrom reads one document object; it needs content or an id. Metadata
// sent as a JSON string is decoded, and gives the id and source when the
// document has none of its own.
func docFrom(m map[string]any) (model.Document, bool) {
	if m == nil {
		return model.Document{}, false
	}
	d := model.Document{
		ID:      firstString(m, docIDFields...),
		Content: firstString(m, docContentFields...),
		Source:  firstString(m, docSourceFields...),
	}
	md, hasMD := firstValue(m, docMetadataFields...)
	if hasMD {
		if s, ok := unbytes(md).(string); ok {
			if parsed, ok := parseJSON(s); ok && parsed != nil {
				md = parsed
			}
		}
		if obj, ok := md.(map[string]any); ok {
			if d.ID == "" {
				d.ID = firstString(obj, docMetadataIDFields...)
			}
			if d.Source == "" {
				d.Source = firstString(obj, docMetadataSourceFields...)
			}
		}
	}
	if d.ID == "" && d.Content == "" {
		return d, false
	}
	if s, ok := firstValue(m, docScoreFields...); ok {
		if f, ok := asFloat(s); ok {
			d.Score = &f
		}
	}
	if hasMD {
		d.Metadata = canonical(md, maxValueDepth)
	}
	return d, true
}

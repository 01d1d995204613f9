package ingest

import (
	"bytes"
	"fmt"
	"mime"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// encoding is the payload encoding of an OTLP/HTTP request and its
// response.
type encoding int

const (
	encProto encoding = iota
	encJSON
)

// Content types of OTLP/HTTP.
const (
	contentTypeProto = "application/x-protobuf"
	contentTypeJSON  = "application/json"
)

func (e encoding) String() string {
	if e == encJSON {
		return "OTLP/JSON"
	}
	return "OTLP/protobuf"
}

func (e encoding) contentType() string {
	if e == encJSON {
		return contentTypeJSON
	}
	return contentTypeProto
}

// encodingOf maps a Content-Type header (parameters such as charset
// allowed) to an encoding.
func encodingOf(contentType string) (encoding, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, false
	}
	switch mt {
	case contentTypeProto:
		return encProto, true
	case contentTypeJSON:
		return encJSON, true
	}
	return 0, false
}

// maxJSONDepth bounds the nesting of an OTLP/JSON body. The JSON decoder
// recurses once per level of nested attribute values and does not limit
// depth itself, so a deep body checked only against the size limit could
// grow a goroutine stack by hundreds of megabytes. A real export nests about
// ten levels plus four per level of nested map values; the protobuf decoder
// stops at a comparable depth (100 message levels).
const maxJSONDepth = 256

// decodeTraces decodes an ExportTraceServiceRequest body. An empty body is
// an empty request.
func decodeTraces(enc encoding, body []byte) (ptrace.Traces, error) {
	req := ptraceotlp.NewExportRequest()
	if err := unmarshal(enc, body, req.UnmarshalProto, req.UnmarshalJSON); err != nil {
		return ptrace.Traces{}, fmt.Errorf("decode %s traces: %w", enc, err)
	}
	return req.Traces(), nil
}

// decodeLogs decodes an ExportLogsServiceRequest body. An empty body is an
// empty request.
func decodeLogs(enc encoding, body []byte) (plog.Logs, error) {
	req := plogotlp.NewExportRequest()
	if err := unmarshal(enc, body, req.UnmarshalProto, req.UnmarshalJSON); err != nil {
		return plog.Logs{}, fmt.Errorf("decode %s logs: %w", enc, err)
	}
	return req.Logs(), nil
}

func unmarshal(enc encoding, body []byte, fromProto, fromJSON func([]byte) error) error {
	if len(body) == 0 {
		return nil
	}
	if enc == encJSON {
		if err := checkJSONDepth(body, maxJSONDepth); err != nil {
			return err
		}
		return fromJSON(body)
	}
	return fromProto(body)
}

// checkJSONDepth reports an error if objects and arrays in b nest deeper
// than limit. It does not validate b otherwise; brackets inside strings are
// skipped.
func checkJSONDepth(b []byte, limit int) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			// Skip to the closing quote, honouring backslash escapes.
			for i++; i < len(b); i++ {
				j := bytes.IndexAny(b[i:], `"\`)
				if j < 0 {
					return nil // unterminated string: the decoder reports it
				}
				i += j
				if b[i] == '"' {
					break
				}
				i++ // skip the escaped byte
			}
		case '{', '[':
			depth++
			if depth > limit {
				return fmt.Errorf("JSON nested deeper than %d levels at byte offset %d", limit, i)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// encodeTracesResponse builds the ExportTraceServiceResponse for a
// consumer's result: partial_success is set only when something was
// rejected or the consumer has a message. pdata always encodes the field,
// even empty, and the specification asks to leave it unset on full
// success, so a full success is written as the empty message.
func encodeTracesResponse(enc encoding, res Result) ([]byte, error) {
	if !hasPartialSuccess(res) {
		return emptyResponse(enc), nil
	}
	resp := tracesResponse(res)
	if enc == encJSON {
		return resp.MarshalJSON()
	}
	return resp.MarshalProto()
}

func tracesResponse(res Result) ptraceotlp.ExportResponse {
	resp := ptraceotlp.NewExportResponse()
	if hasPartialSuccess(res) {
		ps := resp.PartialSuccess()
		ps.SetRejectedSpans(res.Rejected)
		ps.SetErrorMessage(validUTF8(res.Message))
	}
	return resp
}

// encodeLogsResponse is encodeTracesResponse for logs.
func encodeLogsResponse(enc encoding, res Result) ([]byte, error) {
	if !hasPartialSuccess(res) {
		return emptyResponse(enc), nil
	}
	resp := logsResponse(res)
	if enc == encJSON {
		return resp.MarshalJSON()
	}
	return resp.MarshalProto()
}

func logsResponse(res Result) plogotlp.ExportResponse {
	resp := plogotlp.NewExportResponse()
	if hasPartialSuccess(res) {
		ps := resp.PartialSuccess()
		ps.SetRejectedLogRecords(res.Rejected)
		ps.SetErrorMessage(validUTF8(res.Message))
	}
	return resp
}

func hasPartialSuccess(res Result) bool { return res.Rejected > 0 || res.Message != "" }

// emptyResponse is an Export*ServiceResponse without fields.
func emptyResponse(enc encoding) []byte {
	if enc == encJSON {
		return []byte("{}")
	}
	return []byte{}
}

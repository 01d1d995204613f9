package ingest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// OTLP/HTTP paths.
const (
	PathTraces = "/v1/traces"
	PathLogs   = "/v1/logs"
)

// Prefixes are the base paths under which OTLP/HTTP is served: the
// standard one (OpenTelemetry SDKs, Phoenix and OpenLIT exporters post to
// /v1/traces) and those of other LLM observability servers, so that their
// SDKs work unchanged when given flowwatch's base URL: Langfuse's span
// processor posts to /api/public/otel/v1/traces and Opik's documented
// endpoint is /api/v1/private/otel/v1/traces. The credentials those SDKs
// send are not read.
func Prefixes() []string {
	return []string{"", "/api/public/otel", "/api/v1/private/otel"}
}

// maxStatusMessage bounds the message of an error response; decoder errors
// can quote parts of the body.
const maxStatusMessage = 1024

// RegisterHTTP registers POST /v1/traces and POST /v1/logs under each of
// Prefixes on mux, and a 405 answer with "Allow: POST" for the other
// methods on those paths.
func (r *Receiver) RegisterHTTP(mux *http.ServeMux) {
	for _, p := range Prefixes() {
		mux.HandleFunc(http.MethodPost+" "+p+PathTraces, r.handleTraces)
		mux.HandleFunc(http.MethodPost+" "+p+PathLogs, r.handleLogs)
		mux.HandleFunc(p+PathTraces, r.handleMethodNotAllowed)
		mux.HandleFunc(p+PathLogs, r.handleMethodNotAllowed)
	}
}

func (r *Receiver) handleTraces(w http.ResponseWriter, req *http.Request) {
	enc, body, res, f := r.readRequest(w, req)
	if f != nil {
		r.writeFailure(w, req, f)
		return
	}
	if !r.gate.Acquire(req.Context()) { // the gate counts its refusals (at capacity)
		res.release()
		r.writeFailure(w, req, &failure{reason: reasonOverloaded, message: msgAtCapacity})
		return
	}
	defer r.gate.Release()
	td, err := decodeTraces(enc, body)
	res.release()
	if err != nil {
		r.writeFailure(w, req, r.refuse(badData(err)))
		return
	}
	out, f := r.consumeTraces(req.Context(), td)
	if f != nil {
		r.writeFailure(w, req, f)
		return
	}
	resp, err := encodeTracesResponse(enc, out)
	r.writeSuccess(w, req, enc, resp, err)
}

func (r *Receiver) handleLogs(w http.ResponseWriter, req *http.Request) {
	enc, body, res, f := r.readRequest(w, req)
	if f != nil {
		r.writeFailure(w, req, f)
		return
	}
	if !r.gate.Acquire(req.Context()) { // the gate counts its refusals (at capacity)
		res.release()
		r.writeFailure(w, req, &failure{reason: reasonOverloaded, message: msgAtCapacity})
		return
	}
	defer r.gate.Release()
	ld, err := decodeLogs(enc, body)
	res.release()
	if err != nil {
		r.writeFailure(w, req, r.refuse(badData(err)))
		return
	}
	out, f := r.consumeLogs(req.Context(), ld)
	if f != nil {
		r.writeFailure(w, req, f)
		return
	}
	resp, err := encodeLogsResponse(enc, out)
	r.writeSuccess(w, req, enc, resp, err)
}

func (r *Receiver) handleMethodNotAllowed(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	r.writeFailure(w, req, r.refuse(&failure{
		reason:  reasonMethod,
		message: fmt.Sprintf("method %s not allowed on %s; use POST", req.Method, req.URL.Path),
	}))
}

func badData(err error) *failure {
	return &failure{reason: reasonBadData, message: err.Error()}
}

func tooLarge(limit int64) *failure {
	return &failure{
		reason:  reasonTooLarge,
		message: fmt.Sprintf("request body exceeds the limit of %d bytes (before or after decompression)", limit),
	}
}

// errTooLarge marks a body over the limit.
var errTooLarge = errors.New("body too large")

// readRequest checks the content type and encoding and reads the whole
// body, decompressed, within the body limit, the body timeout and the
// receiver's body memory budget; the caller releases the returned
// reservation once the body is decoded. Nothing beyond the limit is
// buffered: the raw body is read through http.MaxBytesReader and the
// decompressed stream through a limit of its own.
func (r *Receiver) readRequest(w http.ResponseWriter, req *http.Request) (encoding, []byte, *reservation, *failure) {
	enc, ok := encodingOf(req.Header.Get("Content-Type"))
	if !ok {
		return 0, nil, nil, r.refuse(&failure{
			reason: reasonMediaType,
			message: fmt.Sprintf("unsupported Content-Type %q; use %s or %s",
				req.Header.Get("Content-Type"), contentTypeProto, contentTypeJSON),
		})
	}
	ce := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding")))
	if ce != "" && ce != "identity" && ce != "gzip" && ce != "x-gzip" {
		return enc, nil, nil, r.refuse(&failure{
			reason:  reasonMediaType,
			message: fmt.Sprintf("unsupported Content-Encoding %q; use gzip or none", ce),
		})
	}
	if req.ContentLength > r.maxBody {
		return enc, nil, nil, r.refuse(tooLarge(r.maxBody))
	}

	// The body must arrive within bodyTimeout: a slow client holds its own
	// connection and a little of the budget, never an admission slot.
	rc := http.NewResponseController(w)
	deadlineSet := rc.SetReadDeadline(time.Now().Add(r.bodyTimeout)) == nil
	res := &reservation{budget: &r.budget}
	raw := http.MaxBytesReader(w, req.Body, r.maxBody)
	defer raw.Close()
	var (
		body []byte
		err  error
	)
	if ce == "gzip" || ce == "x-gzip" {
		body, err = readGzip(raw, r.maxBody, res)
	} else {
		body, err = readAtMost(raw, r.maxBody, req.ContentLength, res)
		if err != nil && !errors.Is(err, errTooLarge) && !errors.Is(err, errBudget) {
			err = fmt.Errorf("read request body: %w", err)
		}
	}
	if err != nil {
		res.release()
		// The deadline stays as it is: a connection whose body was not read
		// to its end is closed after the answer, without waiting for more.
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, errTooLarge) || errors.As(err, &mbe):
			return enc, nil, nil, r.refuse(tooLarge(r.maxBody))
		case errors.Is(err, errBudget):
			return enc, nil, nil, r.refuse(&failure{reason: reasonOverloaded, message: msgBodiesBusy})
		case errors.Is(err, errBodyTimeout):
			w.Header().Set("Connection", "close")
			return enc, nil, nil, r.refuse(&failure{reason: reasonTimeout,
				message: fmt.Sprintf("request body not received within %s; send it faster or in smaller exports", r.bodyTimeout)})
		}
		return enc, nil, nil, r.refuse(badData(err))
	}
	if deadlineSet {
		// The body is in: what follows (waiting for a slot, the write) is
		// bounded by the server, and an expired read deadline would make
		// net/http cancel the request when it next reads the connection.
		_ = rc.SetReadDeadline(time.Time{})
	}
	return enc, body, res, nil
}

// readGzip decompresses src, refusing more than limit decompressed bytes.
func readGzip(src io.Reader, limit int64, res *reservation) ([]byte, error) {
	zr, err := gzip.NewReader(src)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty body is an empty request, compressed or not
		}
		if isTimeout(err) {
			return nil, fmt.Errorf("%w: %w", errBodyTimeout, err)
		}
		return nil, fmt.Errorf("read gzip body: %w", err)
	}
	defer zr.Close()
	body, err := readAtMost(zr, limit, 0, res)
	if err != nil && !errors.Is(err, errTooLarge) && !errors.Is(err, errBudget) && !errors.Is(err, errBodyTimeout) {
		return nil, fmt.Errorf("read gzip body: %w", err)
	}
	return body, err
}

// writeSuccess writes a 200 with an encoded Export*ServiceResponse.
func (r *Receiver) writeSuccess(w http.ResponseWriter, req *http.Request, enc encoding, body []byte, err error) {
	if err != nil {
		// The data is committed; only the response failed to encode.
		r.log.Error("encode export response", "err", err)
		r.writeFailure(w, req, &failure{reason: reasonInternal, message: msgInternal})
		return
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// httpStatus maps a refusal reason to its HTTP status.
func httpStatus(rs reason) int {
	switch rs {
	case reasonMethod:
		return http.StatusMethodNotAllowed
	case reasonMediaType:
		return http.StatusUnsupportedMediaType
	case reasonTooLarge:
		return http.StatusRequestEntityTooLarge
	case reasonBadData:
		return http.StatusBadRequest
	case reasonTimeout:
		return http.StatusRequestTimeout
	case reasonOverloaded:
		return http.StatusTooManyRequests
	case reasonUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// grpcCode maps a refusal reason to the gRPC code of the same meaning.
func grpcCode(rs reason) codes.Code {
	switch rs {
	case reasonMethod:
		return codes.Unimplemented
	case reasonMediaType, reasonBadData:
		return codes.InvalidArgument
	case reasonTooLarge, reasonOverloaded:
		return codes.ResourceExhausted
	case reasonTimeout:
		return codes.DeadlineExceeded
	case reasonUnavailable:
		return codes.Unavailable
	default:
		return codes.Internal
	}
}

func retryable(rs reason) bool { return rs == reasonOverloaded || rs == reasonUnavailable }

// writeFailure answers with the failure's status and a google.rpc.Status
// body in the request's encoding (OTLP/HTTP "Failures"). When the request's
// content type is neither OTLP encoding the body is plain text. Retryable
// failures carry Retry-After in whole seconds.
func (r *Receiver) writeFailure(w http.ResponseWriter, req *http.Request, f *failure) {
	code := httpStatus(f.reason)
	msg := validUTF8(f.message)
	if len(msg) > maxStatusMessage {
		msg = validUTF8(msg[:maxStatusMessage]) + "..."
	}
	if retryable(f.reason) {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(r.retryAfter)))
	}
	enc, ok := encodingOf(req.Header.Get("Content-Type"))
	if !ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, msg+"\n")
		return
	}
	st := &spb.Status{Code: int32(grpcCode(f.reason)), Message: msg}
	if f.reason == reasonBadData {
		detail, err := anypb.New(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "body", Description: msg},
		}})
		if err == nil {
			st.Details = append(st.Details, detail)
		}
	}
	var (
		body []byte
		err  error
	)
	if enc == encJSON {
		body, err = protojson.Marshal(st)
	} else {
		body, err = proto.Marshal(st)
	}
	if err != nil { // cannot happen for a valid UTF-8 message; stay safe
		r.log.Error("encode error response", "err", err)
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// retryAfterSeconds rounds d up to whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

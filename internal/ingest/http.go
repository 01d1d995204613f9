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
	enc, body, f := r.readRequest(w, req)
	if f != nil {
		r.writeFailure(w, req, f)
		return
	}
	td, err := decodeTraces(enc, body)
	if err != nil {
		r.writeFailure(w, req, r.refuse(badData(err)))
		return
	}
	res, f := r.consumeTraces(req.Context(), td)
	if f != nil {
		r.writeFailure(w, req, f)
		return
	}
	out, err := encodeTracesResponse(enc, res)
	r.writeSuccess(w, req, enc, out, err)
}

func (r *Receiver) handleLogs(w http.ResponseWriter, req *http.Request) {
	enc, body, f := r.readRequest(w, req)
	if f != nil {
		r.writeFailure(w, req, f)
		return
	}
	ld, err := decodeLogs(enc, body)
	if err != nil {
		r.writeFailure(w, req, r.refuse(badData(err)))
		return
	}
	res, f := r.consumeLogs(req.Context(), ld)
	if f != nil {
		r.writeFailure(w, req, f)
		return
	}
	out, err := encodeLogsResponse(enc, res)
	r.writeSuccess(w, req, enc, out, err)
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
// body, decompressed, within the body limit. Nothing beyond the limit is
// buffered: the raw body is read through http.MaxBytesReader and the
// decompressed stream through a limit of its own.
func (r *Receiver) readRequest(w http.ResponseWriter, req *http.Request) (encoding, []byte, *failure) {
	enc, ok := encodingOf(req.Header.Get("Content-Type"))
	if !ok {
		return 0, nil, r.refuse(&failure{
			reason: reasonMediaType,
			message: fmt.Sprintf("unsupported Content-Type %q; use %s or %s",
				req.Header.Get("Content-Type"), contentTypeProto, contentTypeJSON),
		})
	}
	ce := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding")))
	if ce != "" && ce != "identity" && ce != "gzip" && ce != "x-gzip" {
		return enc, nil, r.refuse(&failure{
			reason:  reasonMediaType,
			message: fmt.Sprintf("unsupported Content-Encoding %q; use gzip or none", ce),
		})
	}
	if req.ContentLength > r.maxBody {
		return enc, nil, r.refuse(tooLarge(r.maxBody))
	}

	raw := http.MaxBytesReader(w, req.Body, r.maxBody)
	defer raw.Close()
	var (
		body []byte
		err  error
	)
	if ce == "gzip" || ce == "x-gzip" {
		body, err = readGzip(raw, r.maxBody)
	} else {
		body, err = readAtMost(raw, r.maxBody, req.ContentLength)
		if err != nil && !errors.Is(err, errTooLarge) {
			err = fmt.Errorf("read request body: %w", err)
		}
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.Is(err, errTooLarge) || errors.As(err, &mbe) {
			return enc, nil, r.refuse(tooLarge(r.maxBody))
		}
		return enc, nil, r.refuse(badData(err))
	}
	return enc, body, nil
}

// readGzip decompresses src, refusing more than limit decompressed bytes.
func readGzip(src io.Reader, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(src)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty body is an empty request, compressed or not
		}
		return nil, fmt.Errorf("read gzip body: %w", err)
	}
	defer zr.Close()
	body, err := readAtMost(zr, limit, 0)
	if err != nil && !errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("read gzip body: %w", err)
	}
	return body, err
}

// readAtMost reads src to the end into a buffer that never grows beyond
// limit+1 bytes; more than limit bytes is errTooLarge. sizeHint, if
// positive, sizes the buffer up front (Content-Length).
func readAtMost(src io.Reader, limit, sizeHint int64) ([]byte, error) {
	const minRead = 32 << 10
	size := int64(minRead)
	if sizeHint > 0 {
		size = sizeHint + 1 // room to see EOF without growing
	}
	buf := make([]byte, 0, min(size, limit+1))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, errTooLarge
			}
			grown := make([]byte, len(buf), min(max(2*int64(cap(buf)), minRead), limit+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
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

package ingest

import (
	"context"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP servers must accept gzip-compressed requests
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// GRPCServerOptions returns the server options OTLP/gRPC needs: the receive
// limit raised to maxRecvBytes (zero or less means DefaultMaxBodyBytes).
// grpc-go applies the limit to the decompressed message too and answers
// RESOURCE_EXHAUSTED (without retry information, so exporters drop the
// batch) when it is exceeded. Importing this package registers the gzip
// decompressor with grpc-go.
func GRPCServerOptions(maxRecvBytes int) []grpc.ServerOption {
	if maxRecvBytes <= 0 {
		maxRecvBytes = DefaultMaxBodyBytes
	}
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxRecvBytes),
	}
}

// RegisterGRPC registers the OTLP TraceService and LogsService on s.
//
// grpc-go decodes the request before the receiver sees it: a message that
// does not decode is answered by grpc-go with INTERNAL, which exporters
// treat as not retryable, like INVALID_ARGUMENT.
func (r *Receiver) RegisterGRPC(s *grpc.Server) {
	ptraceotlp.RegisterGRPCServer(s, &traceService{r: r})
	plogotlp.RegisterGRPCServer(s, &logsService{r: r})
}

type traceService struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

// Export implements ptraceotlp.GRPCServer.
func (s *traceService) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	res, f := s.r.consumeTraces(ctx, req.Traces())
	if f != nil {
		return ptraceotlp.NewExportResponse(), s.r.grpcError(f)
	}
	return tracesResponse(res), nil
}

type logsService struct {
	plogotlp.UnimplementedGRPCServer
	r *Receiver
}

// Export implements plogotlp.GRPCServer.
func (s *logsService) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	res, f := s.r.consumeLogs(ctx, req.Logs())
	if f != nil {
		return plogotlp.NewExportResponse(), s.r.grpcError(f)
	}
	return logsResponse(res), nil
}

// grpcError turns a failure into a status error; retryable failures carry
// a RetryInfo detail (OTLP/gRPC "Throttling"), which RESOURCE_EXHAUSTED
// needs to be retried at all.
func (r *Receiver) grpcError(f *failure) error {
	st := status.New(grpcCode(f.reason), validUTF8(f.message))
	if retryable(f.reason) {
		if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(r.retryAfter)}); err == nil {
			st = withInfo
		}
	}
	return st.Err()
}

package auth

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// grpcKey is the key in a call's metadata: authorization (Bearer KEY) or
// x-api-key.
func grpcKey(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if scheme, rest, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(rest)
		}
	}
	for _, v := range md.Get("x-api-key") {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// grpcError is a failed check as a gRPC status: Unauthenticated,
// PermissionDenied, or Unavailable when the keys cannot be read (so
// exporters retry).
func grpcError(err error) error {
	switch {
	case errors.Is(err, ErrNoKey):
		return status.Error(codes.Unauthenticated, ErrNoKey.Error()+": send it in the metadata as authorization: Bearer KEY or x-api-key: KEY")
	case errors.Is(err, ErrBadKey):
		return status.Error(codes.Unauthenticated, ErrBadKey.Error()+" (unknown or revoked)")
	case errors.Is(err, ErrForbidden):
		return status.Error(codes.PermissionDenied, ErrForbidden.Error()+" (ingest)")
	}
	return status.Error(codes.Unavailable, "the server cannot check API keys right now")
}

// UnaryInterceptor checks every unary call (the OTLP export services)
// for a key with scope.
func (a *Authenticator) UnaryInterceptor(scope string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		p, err := a.Check(ctx, grpcKey(ctx), scope)
		if err != nil {
			return nil, grpcError(err)
		}
		return handler(context.WithValue(ctx, principalKey{}, p), req)
	}
}

// StreamInterceptor is UnaryInterceptor for streams.
func (a *Authenticator) StreamInterceptor(scope string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if _, err := a.Check(ss.Context(), grpcKey(ss.Context()), scope); err != nil {
			return grpcError(err)
		}
		return handler(srv, ss)
	}
}

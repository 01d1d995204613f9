// Package server owns flowwatch's listeners and the lifecycle of its HTTP
// and gRPC servers, plus the middleware every HTTP request passes through
// (panic recovery, request id, access log) and admission control for
// ingest.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// Options configures a Server.
type Options struct {
	HTTPAddress string
	GRPCAddress string
	// Handler serves every HTTP route.
	Handler http.Handler
	// HTTPTLS, when not nil, makes the HTTP listener serve HTTPS (HTTP/2
	// and HTTP/1.1) only; it needs Certificates or GetCertificate. The
	// gRPC server gets its TLS from its own credentials.
	HTTPTLS *tls.Config
	// GRPC is the gRPC server with its services registered; nil disables
	// the gRPC listener.
	GRPC *grpc.Server
	// ReadTimeout bounds how long a request (headers and body) takes to
	// arrive; 0 means DefaultReadTimeout. Routes whose requests may
	// legitimately take longer lift it with LongRequest.
	ReadTimeout time.Duration
}

// DefaultReadTimeout is Options.ReadTimeout's default.
const DefaultReadTimeout = 2 * time.Minute

// Server runs the HTTP and gRPC listeners.
type Server struct {
	opts Options
	log  *slog.Logger
	http *http.Server

	mu       sync.Mutex
	httpLn   net.Listener
	grpcLn   net.Listener
	done     chan struct{} // closed when both serve loops have returned
	started  bool
	shutdown bool
	serveErr chan error
}

// New returns a Server; nothing listens until Start.
func New(opts Options, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("component", "server")
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	return &Server{
		opts: opts,
		log:  log,
		http: &http.Server{
			Handler:           Middleware(opts.Handler, log),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       opts.ReadTimeout,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    1 << 20,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			TLSConfig:         opts.HTTPTLS,
		},
		serveErr: make(chan error, 2),
	}
}

// Start binds the listeners and serves in the background. A bind failure
// is returned at once and leaves nothing listening.
func (s *Server) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.shutdown {
		return errors.New("server: already started or shut down")
	}
	hl, err := net.Listen("tcp", s.opts.HTTPAddress)
	if err != nil {
		return fmt.Errorf("listen http on %s: %w", s.opts.HTTPAddress, err)
	}
	var gl net.Listener
	if s.opts.GRPC != nil {
		gl, err = net.Listen("tcp", s.opts.GRPCAddress)
		if err != nil {
			hl.Close()
			return fmt.Errorf("listen grpc on %s: %w", s.opts.GRPCAddress, err)
		}
	}
	s.httpLn, s.grpcLn, s.started = hl, gl, true
	s.done = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		serve := s.http.Serve
		if s.opts.HTTPTLS != nil {
			// The handshake is bounded by ReadHeaderTimeout like the
			// headers after it.
			serve = func(l net.Listener) error { return s.http.ServeTLS(l, "", "") }
		}
		if err := serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http_serve_failed", "err", err)
			s.serveErr <- fmt.Errorf("http server: %w", err)
		}
	}()
	if gl != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.opts.GRPC.Serve(gl); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				s.log.Error("grpc_serve_failed", "err", err)
				s.serveErr <- fmt.Errorf("grpc server: %w", err)
			}
		}()
	}
	go func() { wg.Wait(); close(s.done) }()
	s.log.Info("listening", "http", hl.Addr().String(), "grpc", addrString(gl), "http_tls", s.opts.HTTPTLS != nil)
	return nil
}

// Err delivers a serve loop's failure (a listener that broke while
// running).
func (s *Server) Err() <-chan error { return s.serveErr }

// HTTPAddr is the bound HTTP address ("" before Start).
func (s *Server) HTTPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return addrString(s.httpLn)
}

// GRPCAddr is the bound gRPC address ("" before Start or when disabled).
func (s *Server) GRPCAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return addrString(s.grpcLn)
}

func addrString(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// Shutdown stops accepting connections and waits for in-flight requests
// to finish, until ctx ends; then it closes what is left. It is idempotent
// and safe without Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return nil
	}
	s.shutdown = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}

	var errs []error
	// gRPC: graceful stop waits for in-flight RPCs; force-stop at the deadline.
	if s.opts.GRPC != nil {
		stopped := make(chan struct{})
		go func() { s.opts.GRPC.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			s.opts.GRPC.Stop()
			<-stopped
			errs = append(errs, fmt.Errorf("grpc shutdown: %w", ctx.Err()))
		}
	}
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	<-s.done
	return errors.Join(errs...)
}

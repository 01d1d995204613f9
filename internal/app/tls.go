package app

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/tlscert"
)

// listenersTLS builds the TLS of the HTTP and gRPC listeners from
// http.tls and grpc.tls; nil for a listener without it. Each reads its
// certificate again when the files change (tlscert.Reloader).
func listenersTLS(cfg config.Config, logger *slog.Logger) (httpTLS, grpcTLS *tls.Config, err error) {
	if httpTLS, err = listenerTLS("http.tls", cfg.HTTP.TLS, logger); err != nil {
		return nil, nil, err
	}
	if grpcTLS, err = listenerTLS("grpc.tls", cfg.GRPC.TLS, logger); err != nil {
		return nil, nil, err
	}
	// grpc.tls is not implied by http.tls (exporters set to plaintext
	// gRPC would break); but keys sent in clear beyond loopback while
	// HTTP is encrypted are most likely an oversight.
	if httpTLS != nil && grpcTLS == nil && !isLoopback(cfg.GRPC.Address) {
		logger.Warn("grpc_listener_without_tls", "component", "app", "grpc_address", cfg.GRPC.Address,
			"hint", "set grpc.tls (it may name the same files as http.tls)")
	}
	return httpTLS, grpcTLS, nil
}

func listenerTLS(key string, c config.TLS, logger *slog.Logger) (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	r, err := tlscert.New(tlscert.Options{CertFile: c.CertFile, KeyFile: c.KeyFile}, logger.With("listener", key))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	tc := &tls.Config{MinVersion: c.Version(), GetCertificate: r.GetCertificate}
	if c.ClientCAFile != "" {
		pool, err := tlscert.LoadPool(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.client_ca_file: %w", key, err)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/gateway"
	"github.com/flowwatch/flowwatch/internal/pipeline"
	"github.com/flowwatch/flowwatch/internal/server"
	"github.com/flowwatch/flowwatch/internal/ui"
)

// gatewayPrefix starts the path of every gateway: /gateway/{name}/...
const gatewayPrefix = "/gateway/"

// gatewayGrace is how much longer than its gateway's timeout a proxied
// request may hold its connection: time to write the 504 the gateway
// answers when the upstream runs out of time.
const gatewayGrace = 30 * time.Second

// buildGateways makes the recorder the gateways share, recording through
// pl (the pipeline OTLP goes through, so gateway traffic is normalized,
// stored and measured the same) with its metrics in reg, and mounts each
// gateway of cfg on mux. It returns a nil recorder when cfg has no
// gateways. The configuration was validated; a gateway refusing its
// options still stops the start, naming its key.
func buildGateways(cfg config.Config, pl *pipeline.Pipeline, reg prometheus.Registerer, mux *http.ServeMux, logger *slog.Logger) (*gateway.Recorder, error) {
	mux.Handle(gatewayPrefix, unknownGateway(len(cfg.Gateways)))
	if len(cfg.Gateways) == 0 {
		return nil, nil
	}
	rec, err := gateway.NewRecorder(gateway.RecorderOptions{Consumer: pl, Registerer: reg}, logger)
	if err != nil {
		return nil, fmt.Errorf("gateways: %w", err)
	}
	for i, gc := range cfg.Gateways {
		gc = gc.Resolved()
		u, err := url.Parse(gc.Upstream)
		if err != nil {
			return nil, fmt.Errorf("gateways[%d].upstream: %w", i, err)
		}
		g, err := gateway.New(gateway.Options{
			Name:           gc.Name,
			Kind:           gc.Kind,
			Upstream:       u,
			Service:        gc.Service,
			Deployment:     gc.Deployment,
			Provider:       gc.Provider,
			RecordContent:  gc.RecordsContent(),
			Timeout:        time.Duration(gc.Timeout),
			ConnectTimeout: time.Duration(gc.ConnectTimeout),
			MaxRecordBytes: gc.MaxRecordBytes,
			Mapping:        gc.Mapping.Mapping(),
			Recorder:       rec,
		}, logger)
		if err != nil {
			return nil, fmt.Errorf("gateways[%d]: %w", i, err)
		}
		// A proxied call may take as long as its gateway allows (a slow
		// upload, a long stream), not the server's read timeout; and no
		// longer, so a client that stopped reading lets go of its
		// connection.
		mux.Handle(gatewayPrefix+gc.Name+"/", server.LongRequest(g, time.Duration(gc.Timeout)+gatewayGrace))
	}
	return rec, nil
}

// unknownGateway answers a path under /gateway/ that names no gateway,
// in the OpenAI error shape the gateways' own errors have, so that an SDK
// pointed at a mistyped base URL shows the message. It does not list the
// gateways: with require_key: false on some, it may be reached without a
// key.
func unknownGateway(configured int) http.Handler {
	msg := "flowwatch gateway: no gateway is served at this path; a gateway named NAME under gateways: in the server configuration is served at /gateway/NAME/"
	if configured == 0 {
		msg = "flowwatch gateway: no gateways are configured; add them under gateways: in the server configuration (docs/gateway.md)"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]string{
			"message": msg, "type": "gateway_error", "code": "unknown_gateway"}})
	})
}

// dashboardGateways are the configured gateways as the dashboard's
// overview names them.
func dashboardGateways(cfg config.Config) []ui.Gateway {
	var out []ui.Gateway
	for _, g := range cfg.Gateways {
		out = append(out, ui.Gateway{Name: g.Name, Kind: g.Kind})
	}
	return out
}

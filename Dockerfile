# syntax=docker/dockerfile:1
#
# flowwatch in a container: the binary is built by the same `make build` the
# README uses, then copied alone into a distroless image (no shell, no
# package manager; CA certificates for HTTPS judges, webhooks and SMTP).
#
#   docker build -t flowwatch --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run --rm -v flowwatch-data:/var/lib/flowwatch flowwatch keys create --name admin --scope admin
#   docker run -d -p 127.0.0.1:4318:4318 -p 127.0.0.1:4317:4317 -v flowwatch-data:/var/lib/flowwatch flowwatch
#
# docs/deploy.md explains each choice made here.

ARG GO_VERSION=1.26

# The build runs on the machine's own platform and cross-compiles (the binary
# is pure Go, CGO_ENABLED=0), so `docker buildx build --platform
# linux/amd64,linux/arm64` needs no emulator.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH make build VERSION=$VERSION BIN=bin/flowwatch \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/flowwatch /usr/local/bin/flowwatch
# The data directory belongs to the image's non-root user (65532), so a new
# named volume mounted here starts out writable by flowwatch.
COPY --from=build --chown=65532:65532 /out/data /var/lib/flowwatch
USER 65532:65532
WORKDIR /var/lib/flowwatch
VOLUME ["/var/lib/flowwatch"]
# Listening on every interface is this image's deliberate choice: a port
# published by Docker reaches the container from outside its loopback only.
# Beyond loopback flowwatch refuses to start without an API key: create one in
# the data volume first (flowwatch keys create, above; docs/security.md), or
# set FLOWWATCH_AUTH=none only on a network whose every client may read and
# write everything.
ENV FLOWWATCH_DATA_DIR=/var/lib/flowwatch \
    FLOWWATCH_HTTP_ADDRESS=0.0.0.0:4318 \
    FLOWWATCH_GRPC_ADDRESS=0.0.0.0:4317
# 4318: OTLP/HTTP, JSON API, dashboard, /metrics, health. 4317: OTLP/gRPC.
EXPOSE 4318 4317
# No shell or curl in the image: flowwatch checks its own /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/flowwatch", "healthcheck"]
# SIGTERM starts flowwatch's graceful shutdown, which takes at most 30 s:
# give `docker stop` a longer grace period (docker stop -t 40, compose's
# stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/flowwatch"]
CMD ["serve"]

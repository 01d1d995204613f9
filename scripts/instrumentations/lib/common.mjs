// Shared set-up for the capture scenarios: OpenTelemetry SDK wiring for one
// OTLP transport, the control calls that label captured requests, and the
// package versions recorded in requests.json.
//
// The environment comes from capture.sh (the capture server prints it):
//   CAPTURE_HTTP_URL  OTLP/HTTP capture endpoint and control calls
//   CAPTURE_GRPC_URL  OTLP/gRPC capture endpoint
//   FAKE_OPENAI_URL   base URL of the fake OpenAI API (ends in /v1)

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { logs } from '@opentelemetry/api-logs';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';

import { OTLPTraceExporter as TraceProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as TraceJSON } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as TraceGRPC } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPLogExporter as LogsProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPLogExporter as LogsJSON } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as LogsGRPC } from '@opentelemetry/exporter-logs-otlp-grpc';

const here = dirname(fileURLToPath(import.meta.url));
const projectRoot = join(here, '..');

export const TRANSPORTS = {
  'http-protobuf': 'http/protobuf',
  'http-json': 'http/json',
  grpc: 'grpc',
};

const OTEL_PACKAGES = {
  'http-protobuf': ['@opentelemetry/exporter-trace-otlp-proto', '@opentelemetry/exporter-logs-otlp-proto'],
  'http-json': ['@opentelemetry/exporter-trace-otlp-http', '@opentelemetry/exporter-logs-otlp-http'],
  grpc: ['@opentelemetry/exporter-trace-otlp-grpc', '@opentelemetry/exporter-logs-otlp-grpc'],
};

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through scripts/instrumentations/capture.sh`);
  return v;
}

export const fakeOpenAIURL = () => env('FAKE_OPENAI_URL');
export const captureHTTPURL = () => env('CAPTURE_HTTP_URL');

/** The installed version of a package of this project. */
export function versionOf(pkg) {
  const manifest = JSON.parse(readFileSync(join(projectRoot, 'node_modules', pkg, 'package.json'), 'utf8'));
  return manifest.version;
}

export function versions(pkgs) {
  return Object.fromEntries(pkgs.map((p) => [p, versionOf(p)]));
}

async function control(what, body) {
  const res = await fetch(`${captureHTTPURL()}/_capture/${what}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  if (!res.ok) throw new Error(`capture control ${what}: HTTP ${res.status}: ${await res.text()}`);
  return res.json();
}

/** The transport slug given as the first command line argument. */
export function transportArg() {
  const slug = process.argv[2];
  if (!TRANSPORTS[slug]) {
    throw new Error(`usage: node ${process.argv[1]} <${Object.keys(TRANSPORTS).join('|')}>`);
  }
  return slug;
}

/** The resource every scenario reports: the SDK defaults plus our names. */
export function corpusResource(dir) {
  return defaultResource().merge(
    resourceFromAttributes({
      'service.name': `corpus-${dir}`,
      'deployment.name': 'corpus',
    }),
  );
}

function traceExporter(slug) {
  const http = captureHTTPURL();
  switch (slug) {
    case 'http-protobuf':
      return new TraceProto({ url: `${http}/v1/traces`, compression: 'none' });
    case 'http-json':
      return new TraceJSON({ url: `${http}/v1/traces`, compression: 'none' });
    default:
      return new TraceGRPC({ url: env('CAPTURE_GRPC_URL'), compression: 'none' });
  }
}

function logExporter(slug) {
  const http = captureHTTPURL();
  switch (slug) {
    case 'http-protobuf':
      return new LogsProto({ url: `${http}/v1/logs`, compression: 'none' });
    case 'http-json':
      return new LogsJSON({ url: `${http}/v1/logs`, compression: 'none' });
    default:
      return new LogsGRPC({ url: env('CAPTURE_GRPC_URL'), compression: 'none' });
  }
}

// Batches are only sent by the explicit flush after each scenario, so that a
// request never mixes two scenarios.
const batchOpts = { scheduledDelayMillis: 600_000, maxQueueSize: 4096, maxExportBatchSize: 1024 };

/**
 * Registers the library with the capture server and sets up the global
 * tracer provider (and logger provider when withLogs) exporting over the
 * given transport. extraProcessors replace the default exporting processor.
 */
export async function setup({ dir, library, packages, transport, withLogs = false, spanProcessors }) {
  const pkgs = [...packages, '@opentelemetry/api', '@opentelemetry/sdk-trace-node', '@opentelemetry/sdk-trace-base', '@opentelemetry/resources'];
  if (!spanProcessors) pkgs.push(OTEL_PACKAGES[transport][0]);
  if (withLogs) pkgs.push('@opentelemetry/api-logs', '@opentelemetry/sdk-logs', OTEL_PACKAGES[transport][1]);
  await control('library', { dir, library, language: 'javascript', packages: versions(pkgs) });

  const resource = corpusResource(dir);
  const tracerProvider = new NodeTracerProvider({
    resource,
    spanProcessors: spanProcessors ?? [new BatchSpanProcessor(traceExporter(transport), batchOpts)],
  });
  tracerProvider.register();

  let loggerProvider;
  if (withLogs) {
    loggerProvider = new LoggerProvider({
      resource,
      processors: [new BatchLogRecordProcessor({ exporter: logExporter(transport), ...batchOpts })],
    });
    logs.setGlobalLoggerProvider(loggerProvider);
  }

  const flush = async () => {
    await tracerProvider.forceFlush();
    if (loggerProvider) await loggerProvider.forceFlush();
  };

  /** Runs one scenario and makes sure everything it produced was exported. */
  const scenario = async (name, fn) => {
    await control('begin', { dir, scenario: name, transport: TRANSPORTS[transport] });
    try {
      await fn();
    } finally {
      // Some libraries end spans a moment after the awaited call returns
      // (stream consumers, background callbacks): let them settle first.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await flush();
      const { requests } = await control('end');
      console.log(`  ${dir} ${name} (${transport}): ${requests} request(s)`);
      if (requests === 0) {
        // Not fatal: some libraries export nothing for a scenario (the
        // corpus README lists these gaps); capture.sh prints the notes.
        console.log(`  NOTE: ${dir} ${name} (${transport}) exported nothing`);
      }
    }
  };

  const shutdown = async () => {
    await flush();
    await tracerProvider.shutdown();
    if (loggerProvider) await loggerProvider.shutdown();
  };

  return { tracerProvider, loggerProvider, scenario, shutdown };
}

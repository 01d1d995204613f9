// The OpenTelemetry GenAI instrumentation of the openai SDK
// (@opentelemetry/instrumentation-openai), with message content capture on,
// so it also emits log records (gen_ai.* events).
// Usage: node otel-genai-openai.mjs <http-protobuf|http-json|grpc>

import { createRequire } from 'node:module';

import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { OpenAIInstrumentation } from '@opentelemetry/instrumentation-openai';

import { setup, transportArg } from './lib/common.mjs';
import { makeClient, runAll } from './lib/openai-scenarios.mjs';

const transport = transportArg();
const otel = await setup({
  dir: 'otel-genai-openai-js',
  library: 'OpenTelemetry GenAI instrumentation for openai (JavaScript)',
  packages: ['openai', '@opentelemetry/instrumentation-openai', '@opentelemetry/instrumentation'],
  transport,
  withLogs: true,
});

// Same effect as OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.
registerInstrumentations({ instrumentations: [new OpenAIInstrumentation({ captureMessageContent: true })] });
const { OpenAI } = createRequire(import.meta.url)('openai');

await runAll(otel.scenario, makeClient(OpenAI));
await otel.shutdown();

// OpenInference (Arize) instrumentation of the openai SDK.
// Usage: node openinference-openai.mjs <http-protobuf|http-json|grpc>

import { createRequire } from 'node:module';

import { OpenAIInstrumentation } from '@arizeai/openinference-instrumentation-openai';
import { registerInstrumentations } from '@opentelemetry/instrumentation';

import { setup, transportArg } from './lib/common.mjs';
import { makeClient, runAll } from './lib/openai-scenarios.mjs';

const transport = transportArg();
const otel = await setup({
  dir: 'openinference-openai-js',
  library: 'OpenInference for openai (JavaScript)',
  packages: ['openai', '@arizeai/openinference-instrumentation-openai', '@opentelemetry/instrumentation'],
  transport,
});

registerInstrumentations({ instrumentations: [new OpenAIInstrumentation()] });
// Loaded through require after registering, so the instrumentation's module
// hook patches it (the same as a CommonJS application).
const { OpenAI } = createRequire(import.meta.url)('openai');

await runAll(otel.scenario, makeClient(OpenAI));
await otel.shutdown();

// Traceloop OpenLLMetry instrumentation of the openai SDK.
// Usage: node openllmetry-openai.mjs <http-protobuf|http-json|grpc>

import { createRequire } from 'node:module';

import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { OpenAIInstrumentation } from '@traceloop/instrumentation-openai';

import { setup, transportArg } from './lib/common.mjs';
import { makeClient, runAll } from './lib/openai-scenarios.mjs';

const transport = transportArg();
const otel = await setup({
  dir: 'openllmetry-openai-js',
  library: 'OpenLLMetry (Traceloop) for openai (JavaScript)',
  packages: ['openai', '@traceloop/instrumentation-openai', '@opentelemetry/instrumentation'],
  transport,
});

// Defaults of the instrumentation: prompts and completions are traced
// (traceContent), no token estimation for streams (enrichTokens off).
registerInstrumentations({ instrumentations: [new OpenAIInstrumentation()] });
const { OpenAI } = createRequire(import.meta.url)('openai');

await runAll(otel.scenario, makeClient(OpenAI));
await otel.shutdown();

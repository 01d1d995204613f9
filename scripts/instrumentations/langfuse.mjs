// The Langfuse JS SDK (OpenTelemetry based): LangfuseSpanProcessor from
// @langfuse/otel, observations from @langfuse/tracing and the observeOpenAI
// wrapper from @langfuse/openai. Langfuse sends with its own exporter (OTLP/HTTP
// JSON to <baseUrl>/api/public/otel/v1/traces with Basic auth), so there is
// one transport only.
// Usage: node langfuse.mjs

import { createRequire } from 'node:module';

import { observeOpenAI } from '@langfuse/openai';
import { LangfuseSpanProcessor } from '@langfuse/otel';
import { propagateAttributes, startActiveObservation } from '@langfuse/tracing';

import { captureHTTPURL, setup } from './lib/common.mjs';
import { chatMessages, makeClient } from './lib/openai-scenarios.mjs';

const otel = await setup({
  dir: 'langfuse-js',
  library: 'Langfuse JS SDK (OpenTelemetry based)',
  packages: [
    '@langfuse/otel',
    '@langfuse/tracing',
    '@langfuse/openai',
    '@langfuse/core',
    'openai',
    '@opentelemetry/exporter-trace-otlp-http',
  ],
  transport: 'http-json',
  spanProcessors: [
    new LangfuseSpanProcessor({
      publicKey: 'pk-lf-test',
      secretKey: 'sk-lf-test',
      baseUrl: captureHTTPURL(),
      environment: 'corpus',
      // Batches go out only on the explicit flush after each scenario.
      flushAt: 1000,
      flushInterval: 600,
    }),
  ],
});

const traceAttrs = { userId: 'user-corpus', sessionId: 'session-corpus', tags: ['corpus'] };

await otel.scenario('observations', async () => {
  const question = 'What is the capital of Germany?';
  const answer = 'Berlin.';
  await propagateAttributes({ ...traceAttrs, traceName: 'geography-qa' }, () =>
    startActiveObservation('answer-question', async (span) => {
      span.update({ input: { question }, metadata: { topic: 'geography' } });
      span.setTraceIO({ input: { question } });

      const generation = span.startObservation(
        'llm-call',
        {
          model: 'gpt-4o-mini',
          input: { messages: chatMessages },
          modelParameters: { temperature: 0.2, max_tokens: 256 },
        },
        { asType: 'generation' },
      );
      await new Promise((r) => setTimeout(r, 20));
      generation.update({ output: answer, usageDetails: { input: 25, output: 7, total: 32 } });
      generation.end();

      span.update({ output: { answer } });
      span.setTraceIO({ input: { question }, output: { answer } });
    }),
  );
});

const { OpenAI } = createRequire(import.meta.url)('openai');

await otel.scenario('openai-chat', async () => {
  const client = observeOpenAI(makeClient(OpenAI), { ...traceAttrs, traceName: 'openai-chat' });
  const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: chatMessages });
  console.log(`    openai-chat: ${res.choices[0].message.content}`);
});

await otel.scenario('openai-stream', async () => {
  const client = observeOpenAI(makeClient(OpenAI), { ...traceAttrs, traceName: 'openai-stream' });
  const s = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Name three rivers in Europe.' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? '';
  console.log(`    openai-stream: ${text}`);
});

await otel.scenario('openai-embedding', async () => {
  const client = observeOpenAI(makeClient(OpenAI), { ...traceAttrs, traceName: 'openai-embedding' });
  const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world' });
  console.log(`    openai-embedding: ${res.data.length} vector(s)`);
});

await otel.scenario('openai-error', async () => {
  const client = observeOpenAI(makeClient(OpenAI), { ...traceAttrs, traceName: 'openai-error' });
  try {
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Please FAIL this request.' }],
    });
    throw new Error('the openai-error scenario did not fail');
  } catch (e) {
    if (e?.status !== 500) throw e;
    console.log(`    openai-error: caught ${e.constructor.name} ${e.status}`);
  }
});

await otel.shutdown();

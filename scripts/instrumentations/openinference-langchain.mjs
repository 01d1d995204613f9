// OpenInference (Arize) instrumentation of LangChain JS, driving a small RAG
// chain: retriever -> prompt -> ChatOpenAI -> string output parser.
// Usage: node openinference-langchain.mjs <http-protobuf|http-json|grpc>

import { createRequire } from 'node:module';

import { LangChainInstrumentation } from '@arizeai/openinference-instrumentation-langchain';
import { registerInstrumentations } from '@opentelemetry/instrumentation';

import { fakeOpenAIURL, setup, transportArg } from './lib/common.mjs';

const transport = transportArg();
const otel = await setup({
  dir: 'openinference-langchain-js',
  library: 'OpenInference for LangChain (JavaScript)',
  packages: [
    '@langchain/core',
    '@langchain/openai',
    'openai',
    '@arizeai/openinference-instrumentation-langchain',
    '@opentelemetry/instrumentation',
  ],
  transport,
});

registerInstrumentations({ instrumentations: [new LangChainInstrumentation()] });
// Loaded through require after registering, so the instrumentation's hook on
// @langchain/core's callback manager applies (as in a CommonJS application).
const require = createRequire(import.meta.url);
const { BaseRetriever } = require('@langchain/core/retrievers');
const { Document } = require('@langchain/core/documents');
const { ChatPromptTemplate } = require('@langchain/core/prompts');
const { StringOutputParser } = require('@langchain/core/output_parsers');
const { RunnablePassthrough, RunnableSequence } = require('@langchain/core/runnables');
const { ChatOpenAI } = require('@langchain/openai');
const { awaitAllCallbacks } = require('@langchain/core/callbacks/promises');

/** An in-memory retriever that always returns the two Paris documents. */
class ParisRetriever extends BaseRetriever {
  lc_namespace = ['corpus', 'retrievers'];

  static lc_name() {
    return 'ParisRetriever';
  }

  async _getRelevantDocuments(_query) {
    const source = 'https://example.com/wiki/paris';
    return [
      new Document({
        pageContent: 'Paris is the capital and most populous city of France.',
        metadata: { id: 'doc-paris-1', source },
      }),
      new Document({
        pageContent: 'Paris has been the seat of the French government since the 10th century.',
        metadata: { id: 'doc-paris-2', source },
      }),
    ];
  }
}

const prompt = ChatPromptTemplate.fromMessages([
  ['system', 'Answer the question using only the following context.\n\nContext:\n{context}'],
  ['human', '{question}'],
]);
const llm = new ChatOpenAI({
  model: 'gpt-4o-mini',
  temperature: 0,
  apiKey: 'sk-corpus-fake',
  maxRetries: 0,
  configuration: { baseURL: fakeOpenAIURL() },
});
const formatDocs = (docs) => docs.map((d) => d.pageContent).join('\n\n');
const chain = RunnableSequence.from([
  { context: new ParisRetriever().pipe(formatDocs), question: new RunnablePassthrough() },
  prompt,
  llm,
  new StringOutputParser(),
]);

const question = 'What is the capital of France?';
await otel.scenario('rag', async () => {
  console.log(`    rag: ${await chain.invoke(question)}`);
  // LangChain runs callbacks (and so ends the instrumentation's spans) in
  // the background: wait for them, as LangChain advises before exiting.
  await awaitAllCallbacks();
});
await otel.scenario('rag-stream', async () => {
  let text = '';
  for await (const part of await chain.stream(question)) text += part;
  console.log(`    rag-stream: ${text}`);
  await awaitAllCallbacks();
});
await otel.shutdown();

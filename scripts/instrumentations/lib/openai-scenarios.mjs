// The four scenarios every openai instrumentation is driven through: chat,
// stream, embedding and error. Each gets an OpenAI client that talks to the
// fake OpenAI API of the capture server.

import { fakeOpenAIURL } from './common.mjs';

export function makeClient(OpenAI) {
  return new OpenAI({ apiKey: 'sk-corpus-fake', baseURL: fakeOpenAIURL(), maxRetries: 0 });
}

export const chatMessages = [
  { role: 'system', content: 'You are a geography assistant.' },
  { role: 'user', content: 'What is the capital of France?' },
  { role: 'assistant', content: 'Paris.' },
  { role: 'user', content: 'And of Germany?' },
];

export async function chat(client) {
  const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: chatMessages });
  console.log(`    chat: ${res.choices[0].message.content}`);
}

export async function stream(client) {
  const s = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Name three rivers in Europe.' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? '';
  console.log(`    stream: ${text}`);
}

export async function embedding(client) {
  const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world' });
  console.log(`    embedding: ${res.data.length} vector(s) of ${res.data[0].embedding.length}`);
}

export async function error(client) {
  try {
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Please FAIL this request.' }],
    });
    throw new Error('the error scenario did not fail');
  } catch (e) {
    if (e?.status !== 500) throw e;
    console.log(`    error: caught ${e.constructor.name} ${e.status}`);
  }
}

/** Runs all four scenarios, each labelled and flushed on its own. */
export async function runAll(scenario, client) {
  await scenario('chat', () => chat(client));
  await scenario('stream', () => stream(client));
  await scenario('embedding', () => embedding(client));
  await scenario('error', () => error(client));
}

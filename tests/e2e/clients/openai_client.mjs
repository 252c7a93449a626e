// The official OpenAI SDK against the mock provider.
//
// node openai_client.mjs --base-url https://127.0.0.1:PORT [--stream]
//   [--model M] [--api chat|responses] [--header K:V]... [--api-key K]
//
// --base-url may be the origin or end in /v1 (the SDK's own convention).
// The CA comes from NODE_EXTRA_CA_CERTS; retries are off (maxRetries 0)
// so a 429 or 500 is one request on the wire.
import OpenAI from "openai";
import { parseArgs, printSummary } from "./args.mjs";

const PROMPT = "Say hello from llmtap.";

function baseUrl(raw) {
  const trimmed = raw.replace(/\/+$/, "");
  return trimmed.endsWith("/v1") ? trimmed : `${trimmed}/v1`;
}

async function chat(client, opts, summary) {
  const params = {
    model: opts.model,
    messages: [{ role: "user", content: PROMPT }],
  };
  if (!opts.stream) {
    const { data, response } = await client.chat.completions
      .create(params).withResponse();
    summary.request_id = response.headers.get("x-request-id");
    Object.assign(summary, { model: data.model, usage: data.usage,
                             text: data.choices[0]?.message?.content });
    return;
  }
  params.stream = true;
  params.stream_options = { include_usage: true };
  const { data: stream, response } = await client.chat.completions
    .create(params).withResponse();
  summary.request_id = response.headers.get("x-request-id");
  for await (const chunk of stream) {
    summary.events++;
    summary.model = chunk.model;
    summary.text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.usage) summary.usage = chunk.usage;
  }
}

async function responses(client, opts, summary) {
  const params = { model: opts.model, input: PROMPT };
  if (!opts.stream) {
    const { data, response } = await client.responses
      .create(params).withResponse();
    summary.request_id = response.headers.get("x-request-id");
    Object.assign(summary, { model: data.model, usage: data.usage,
                             text: data.output_text });
    return;
  }
  params.stream = true;
  const { data: stream, response } = await client.responses
    .create(params).withResponse();
  summary.request_id = response.headers.get("x-request-id");
  for await (const event of stream) {
    summary.events++;
    if (event.type === "response.output_text.delta")
      summary.text += event.delta;
    if (event.type === "response.completed") {
      summary.model = event.response.model;
      summary.usage = event.response.usage;
    }
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), {
    baseUrl: "https://127.0.0.1:8443", model: "gpt-4o-mini",
    apiKey: "sk-mock", api: "chat", stream: false,
  });
  const client = new OpenAI({
    apiKey: opts.apiKey, baseURL: baseUrl(opts.baseUrl),
    maxRetries: 0, timeout: 30000, defaultHeaders: opts.headers,
  });
  const summary = { sdk: "openai", api: opts.api, stream: opts.stream,
                    model: null, usage: null, text: "", events: 0,
                    request_id: null };
  const run = opts.api === "responses" ? responses : chat;
  try {
    await run(client, opts, summary);
    printSummary(summary, null);
  } catch (err) {
    printSummary(summary, err);
  }
}

main();

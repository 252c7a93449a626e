// The official Anthropic SDK against the mock provider.
//
// node anthropic_client.mjs --base-url https://127.0.0.1:PORT [--stream]
//   [--model M] [--header K:V]... [--api-key K]
//
// --base-url is the origin; the SDK adds /v1/messages. The CA comes from
// NODE_EXTRA_CA_CERTS; retries are off (maxRetries 0).
import Anthropic from "@anthropic-ai/sdk";
import { parseArgs, printSummary } from "./args.mjs";

const MAX_TOKENS = 64;

// Usage as the SDK reports it: message_start gives the input side,
// message_delta the cumulative output_tokens (Anthropic streaming docs).
function mergeUsage(into, usage) {
  for (const [key, value] of Object.entries(usage ?? {}))
    if (value !== null && value !== undefined) into[key] = value;
}

async function once(client, params, summary) {
  const { data, response } = await client.messages
    .create(params).withResponse();
  summary.request_id = response.headers.get("request-id");
  summary.model = data.model;
  summary.usage = data.usage;
  summary.text = data.content.map((block) => block.text ?? "").join("");
}

async function streamed(client, params, summary) {
  const { data: stream, response } = await client.messages
    .create({ ...params, stream: true }).withResponse();
  summary.request_id = response.headers.get("request-id");
  summary.usage = {};
  for await (const event of stream) {
    summary.events++;
    if (event.type === "message_start") {
      summary.model = event.message.model;
      mergeUsage(summary.usage, event.message.usage);
    } else if (event.type === "message_delta") {
      mergeUsage(summary.usage, event.usage);
    } else if (event.type === "content_block_delta" &&
               event.delta.type === "text_delta") {
      summary.text += event.delta.text;
    }
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), {
    baseUrl: "https://127.0.0.1:8443", model: "claude-sonnet-4-5",
    apiKey: "sk-ant-mock", stream: false,
  });
  const client = new Anthropic({
    apiKey: opts.apiKey, baseURL: opts.baseUrl.replace(/\/+$/, ""),
    maxRetries: 0, timeout: 30000, defaultHeaders: opts.headers,
  });
  const params = {
    model: opts.model, max_tokens: MAX_TOKENS,
    messages: [{ role: "user", content: "Say hello from llmtap." }],
  };
  const summary = { sdk: "anthropic", stream: opts.stream, model: null,
                    usage: null, text: "", events: 0, request_id: null };
  try {
    await (opts.stream ? streamed : once)(client, params, summary);
    printSummary(summary, null);
  } catch (err) {
    printSummary(summary, err);
  }
}

main();

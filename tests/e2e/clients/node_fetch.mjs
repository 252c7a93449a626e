// Node's built-in fetch (undici), as apps calling a local model server
// use it: POST a JSON body, read the whole (streamed) answer.
//
// node node_fetch.mjs --url http://127.0.0.1:PORT/api/chat --json BODY
//   [--header K:V]...
//
// Writes the response body to stdout and "status <code>" to stderr.
// undici sends the head and the body with one writev.
import { parseArgs } from "./args.mjs";

const opts = parseArgs(process.argv.slice(2), {});
if (!opts.url || !opts.json) {
  process.stderr.write("usage: node_fetch.mjs --url URL --json BODY\n");
  process.exit(2);
}
try {
  const res = await fetch(opts.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...opts.headers },
    body: opts.json,
    signal: AbortSignal.timeout(30000),
  });
  process.stderr.write(`status ${res.status}\n`);
  process.stdout.write(await res.text());
} catch (err) {
  process.stderr.write(`transfer failed: ${err.message}\n`);
  process.exitCode = 3;
}

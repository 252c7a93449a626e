// Node's built-in https module, no SDK: POST a file, print the answer.
//
// node node_raw.mjs --url https://127.0.0.1:PORT/echo --body-file F
//   [--header K:V]...
//
// Writes the response body to stdout and "status <code>" to stderr.
// The CA comes from NODE_EXTRA_CA_CERTS. The body goes out with a
// Content-Length, in the pieces node's stream writer chooses.
import https from "node:https";
import { readFileSync } from "node:fs";
import { parseArgs } from "./args.mjs";

const TIMEOUT_MS = 30000;

function post(opts, body) {
  return new Promise((resolve, reject) => {
    const headers = { "Content-Type": "application/octet-stream",
                      "Content-Length": body.length, ...opts.headers };
    const req = https.request(opts.url, { method: "POST", headers,
                                          timeout: TIMEOUT_MS }, (res) => {
      process.stderr.write(`status ${res.statusCode}\n`);
      res.on("data", (piece) => process.stdout.write(piece));
      res.on("end", resolve);
      res.on("error", reject);
      res.on("aborted", () => reject(new Error("response aborted")));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

const opts = parseArgs(process.argv.slice(2), {});
if (!opts.url || !opts.bodyFile) {
  process.stderr.write("usage: node_raw.mjs --url URL --body-file F\n");
  process.exit(2);
}
post(opts, readFileSync(opts.bodyFile)).catch((err) => {
  process.stderr.write(`transfer failed: ${err.message}\n`);
  process.exitCode = 3;
});

// Command-line parsing shared by the SDK client scripts.

// Flags that take no value; every other --flag takes the next argument.
const SWITCHES = new Set(["stream"]);

export function parseArgs(argv, defaults) {
  const opts = { ...defaults, headers: {} };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i].replace(/^--/, "");
    if (SWITCHES.has(flag)) {
      opts[flag] = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`--${flag} needs a value`);
    if (flag === "header") {
      const at = value.indexOf(":");
      if (at < 1) throw new Error(`bad --header ${value}, want K:V`);
      opts.headers[value.slice(0, at).trim()] = value.slice(at + 1).trim();
    } else {
      opts[flag.replace(/-(.)/g, (_, c) => c.toUpperCase())] = value;
    }
  }
  return opts;
}

// One JSON line on stdout: what the SDK handed back, for the test to
// compare with what llmtap reports. An SDK error (an HTTP error status
// or a broken stream) is reported in the same line, with exit status 1.
export function printSummary(summary, err) {
  if (err) {
    summary.request_id ??= err.requestID ?? null;
    summary.error = {
      name: err.constructor?.name ?? "Error",
      status: err.status ?? null,
      type: err.error?.error?.type ?? err.error?.type ?? null,
      message: String(err.message).slice(0, 200),
    };
  }
  process.stdout.write(JSON.stringify(summary) + "\n");
  process.exitCode = err ? 1 : 0;
}

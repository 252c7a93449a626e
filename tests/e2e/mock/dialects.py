"""What the mock provider answers: the bodies of the four dialects.

Nothing here touches a socket. route() takes a parsed request and returns a
Reply; provider.py carries the Reply over HTTP/1.1 or HTTP/2.

Token counts (the rule the tests rely on)
-----------------------------------------
Every reply reports the same five numbers, never computed from the prompt:

    in=120 cached=20 out=30 reasoning=5 cache_write=10

A request header overrides any of them, e.g.
    x-mock-usage: in=1000,cached=400,out=50,reasoning=0,cache_write=7

They land in each dialect's own fields, with that provider's meaning:

  OpenAI chat/completions and completions:
    prompt_tokens=in, completion_tokens=out, total_tokens=in+out,
    prompt_tokens_details.cached_tokens=cached,
    completion_tokens_details.reasoning_tokens=reasoning
    (OpenAI counts cached inside prompt_tokens and reasoning inside
    completion_tokens.)
  OpenAI responses:
    input_tokens=in, input_tokens_details.cached_tokens=cached,
    output_tokens=out, output_tokens_details.reasoning_tokens=reasoning,
    total_tokens=in+out
  OpenAI embeddings:
    prompt_tokens=in, total_tokens=in
  Anthropic messages (input_tokens excludes the cache, as Anthropic does):
    input_tokens=in, cache_read_input_tokens=cached,
    cache_creation_input_tokens=cache_write, output_tokens=out.
    Streamed: message_start carries output_tokens=1, message_delta carries
    the final cumulative output_tokens=out.
  Gemini (promptTokenCount includes the cache; the total includes thoughts):
    promptTokenCount=in, cachedContentTokenCount=cached,
    candidatesTokenCount=out, thoughtsTokenCount=reasoning,
    totalTokenCount=in+out+reasoning.
    Streamed: every chunk but the last carries only promptTokenCount=in
    and totalTokenCount=in; the last carries everything.
  Ollama native (/api/chat, /api/generate, /api/embed):
    prompt_eval_count=in, eval_count=out (embed: prompt_eval_count only).
    Streamed (the default unless the request says "stream": false) as
    NDJSON: only the last line, "done": true, carries the counts.

The reply text is "t0 t1 ... t{N-1}", N = x-mock-events (default 5);
a stream sends one text delta per word ("t0", " t1", ...).
The model echoed is the request's "model" (Gemini: the model in the path),
or "mock-model" when the request names none.
"""

import gzip
import hashlib
import itertools
import json
import re
import zlib

DEFAULT_USAGE = {"in": 120, "cached": 20, "out": 30,
                 "reasoning": 5, "cache_write": 10}
DEFAULT_EVENTS = 5
MAX_EVENTS = 100000
DEFAULT_DELAY_MS = 20
MAX_DELAY_MS = 10000
MAX_BYTES = 64 << 20
DEFAULT_MODEL = "mock-model"
# One server-wide counter makes request ids unique and predictable.
_request_counter = itertools.count(1)


class Request:
    """One parsed HTTP request; header names are lower case."""

    def __init__(self, method, target, headers, body, proto):
        self.method = method
        path, _, query = target.partition("?")
        self.path = path
        self.query = _parse_query(query)
        self.headers = headers
        self.body = body
        self.proto = proto


class Reply:
    """What to send back: a whole body, or a list of stream events."""

    def __init__(self, status, content_type, body=b"", events=None):
        self.status = status
        self.headers = [("Content-Type", content_type)]
        self.body = body
        self.events = events
        self.gzip = False
        self.chunked = False
        self.delay_s = 0.0
        self.die_after = None

    def add_header(self, name, value):
        self.headers.append((name, str(value)))


class Knobs:
    """The x-mock-* request headers, parsed and bounded."""

    def __init__(self, headers):
        self.status = _int_header(headers, "x-mock-status", 0, 100, 599)
        self.gzip = headers.get("x-mock-encoding", "") == "gzip"
        self.chunked = headers.get("x-mock-chunked", "") == "1"
        self.die_after = _int_header(headers, "x-mock-die-after", None,
                                     0, MAX_EVENTS)
        delay = _int_header(headers, "x-mock-delay-ms", None, 0, MAX_DELAY_MS)
        self.delay_given = delay is not None
        self.delay_s = (DEFAULT_DELAY_MS if delay is None else delay) / 1000
        self.events = _int_header(headers, "x-mock-events", DEFAULT_EVENTS,
                                  1, MAX_EVENTS)
        self.usage = _parse_usage(headers.get("x-mock-usage", ""))


class BadRequest(Exception):
    pass


def _parse_query(query):
    out = {}
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            out[key] = value
    return out


def _int_header(headers, name, default, low, high):
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    return max(low, min(high, value))


def _parse_usage(raw):
    usage = dict(DEFAULT_USAGE)
    for part in raw.split(","):
        key, _, value = part.strip().partition("=")
        if key in usage and value.isdigit():
            usage[key] = int(value)
    return usage


def _words(count):
    return ["t%d" % i if i == 0 else " t%d" % i for i in range(count)]


def _json_body(raw):
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not JSON")
    if not isinstance(body, dict):
        raise BadRequest("request body is not a JSON object")
    return body


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def _json_reply(status, obj):
    return Reply(status, "application/json", (_dumps(obj) + "\n").encode())


def _sse(data, event=None, sep="\n\n"):
    head = "event: %s\n" % event if event else ""
    return (head + "data: " + data + sep).encode()


def _stream_reply(events):
    reply = Reply(200, "text/event-stream; charset=utf-8", events=events)
    reply.add_header("Cache-Control", "no-cache")
    return reply


# ---------------------------------------------------------------- OpenAI


def _openai_usage(u):
    return {
        "prompt_tokens": u["in"],
        "completion_tokens": u["out"],
        "total_tokens": u["in"] + u["out"],
        "prompt_tokens_details": {"cached_tokens": u["cached"],
                                  "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": u["reasoning"],
                                      "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def _chat_chunk(rid, model, choices, usage=None, with_usage=False):
    chunk = {"id": rid, "object": "chat.completion.chunk",
             "created": 1700000000, "model": model,
             "system_fingerprint": "fp_mock", "choices": choices}
    # With include_usage every chunk has "usage": null but the last.
    if with_usage:
        chunk["usage"] = usage
    return _sse(_dumps(chunk))


def _chat_stream(rid, model, knobs, with_usage):
    def choice(delta, finish=None):
        return [{"index": 0, "delta": delta, "logprobs": None,
                 "finish_reason": finish}]
    events = [_chat_chunk(rid, model,
                          choice({"role": "assistant", "content": ""}),
                          None, with_usage)]
    for word in _words(knobs.events):
        events.append(_chat_chunk(rid, model, choice({"content": word}),
                                  None, with_usage))
    events.append(_chat_chunk(rid, model, choice({}, "stop"), None,
                              with_usage))
    if with_usage:
        events.append(_chat_chunk(rid, model, [],
                                  _openai_usage(knobs.usage), True))
    events.append(b"data: [DONE]\n\n")
    return _stream_reply(events)


def openai_chat(req, body, knobs):
    rid = "chatcmpl-mock%d" % req.number
    model = body.get("model", DEFAULT_MODEL)
    if body.get("stream"):
        opts = body.get("stream_options") or {}
        return _chat_stream(rid, model, knobs,
                            bool(opts.get("include_usage")))
    message = {"role": "assistant", "content": "".join(_words(knobs.events)),
               "refusal": None}
    return _json_reply(200, {
        "id": rid, "object": "chat.completion", "created": 1700000000,
        "model": model, "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "stop"}],
        "usage": _openai_usage(knobs.usage),
    })


def _responses_usage(u):
    return {
        "input_tokens": u["in"],
        "input_tokens_details": {"cached_tokens": u["cached"]},
        "output_tokens": u["out"],
        "output_tokens_details": {"reasoning_tokens": u["reasoning"]},
        "total_tokens": u["in"] + u["out"],
    }


def _response_object(rid, model, text, status, usage):
    item = {"id": "msg_mock", "type": "message", "status": status,
            "role": "assistant",
            "content": [{"type": "output_text", "text": text,
                         "annotations": []}]}
    return {"id": rid, "object": "response", "created_at": 1700000000,
            "status": status, "model": model,
            "output": [item] if text is not None else [],
            "usage": usage}


def _responses_stream(rid, model, knobs):
    seq = itertools.count(0)

    def event(kind, fields):
        fields = dict(type=kind, sequence_number=next(seq), **fields)
        return _sse(_dumps(fields), kind)
    start = _response_object(rid, model, None, "in_progress", None)
    where = {"item_id": "msg_mock", "output_index": 0, "content_index": 0}
    events = [event("response.created", {"response": start}),
              event("response.in_progress", {"response": start})]
    for word in _words(knobs.events):
        events.append(event("response.output_text.delta",
                            dict(where, delta=word)))
    text = "".join(_words(knobs.events))
    events.append(event("response.output_text.done", dict(where, text=text)))
    done = _response_object(rid, model, text, "completed",
                            _responses_usage(knobs.usage))
    events.append(event("response.completed", {"response": done}))
    return _stream_reply(events)


def openai_responses(req, body, knobs):
    rid = "resp_mock%d" % req.number
    model = body.get("model", DEFAULT_MODEL)
    if body.get("stream"):
        return _responses_stream(rid, model, knobs)
    text = "".join(_words(knobs.events))
    return _json_reply(200, _response_object(
        rid, model, text, "completed", _responses_usage(knobs.usage)))


def openai_embeddings(req, body, knobs):
    inputs = body.get("input", "")
    count = len(inputs) if isinstance(inputs, list) else 1
    data = [{"object": "embedding", "index": i,
             "embedding": [0.125 * (i + 1)] * 8} for i in range(count)]
    u = knobs.usage
    return _json_reply(200, {
        "object": "list", "data": data,
        "model": body.get("model", DEFAULT_MODEL),
        "usage": {"prompt_tokens": u["in"], "total_tokens": u["in"]},
    })


def _completion(rid, model, choices, usage):
    return {"id": rid, "object": "text_completion", "created": 1700000000,
            "model": model, "choices": choices, "usage": usage}


def openai_completions(req, body, knobs):
    rid = "cmpl-mock%d" % req.number
    model = body.get("model", DEFAULT_MODEL)
    u = knobs.usage
    usage = {"prompt_tokens": u["in"], "completion_tokens": u["out"],
             "total_tokens": u["in"] + u["out"]}
    if not body.get("stream"):
        text = "".join(_words(knobs.events))
        choice = {"text": text, "index": 0, "logprobs": None,
                  "finish_reason": "stop"}
        return _json_reply(200, _completion(rid, model, [choice], usage))
    events = []
    for word in _words(knobs.events):
        choice = {"text": word, "index": 0, "logprobs": None,
                  "finish_reason": None}
        events.append(_sse(_dumps(_completion(rid, model, [choice], None))))
    opts = body.get("stream_options") or {}
    if opts.get("include_usage"):
        events.append(_sse(_dumps(_completion(rid, model, [], usage))))
    events.append(b"data: [DONE]\n\n")
    return _stream_reply(events)


def openai_error(status):
    kinds = {429: ("requests", "rate_limit_exceeded",
                   "Rate limit reached (mock)"),
             401: ("invalid_request_error", "invalid_api_key",
                   "Incorrect API key provided (mock)"),
             400: ("invalid_request_error", None, "Bad request (mock)"),
             404: ("invalid_request_error", None, "Not found (mock)"),
             405: ("invalid_request_error", None,
                   "Method not allowed (mock)")}
    kind, code, text = kinds.get(status, ("server_error", None,
                                          "The server had an error (mock)"))
    return _json_reply(status, {"error": {"message": text, "type": kind,
                                          "param": None, "code": code}})


# ------------------------------------------------------------- Anthropic


def _anthropic_usage(u, output_tokens):
    return {"input_tokens": u["in"],
            "cache_creation_input_tokens": u["cache_write"],
            "cache_read_input_tokens": u["cached"],
            "output_tokens": output_tokens}


def _anthropic_message(rid, model, content, stop, usage):
    return {"id": rid, "type": "message", "role": "assistant",
            "model": model, "content": content, "stop_reason": stop,
            "stop_sequence": None, "usage": usage}


def _anthropic_stream(rid, model, knobs):
    def event(kind, fields):
        return _sse(_dumps(dict(type=kind, **fields)), kind)
    start = _anthropic_message(rid, model, [], None,
                               _anthropic_usage(knobs.usage, 1))
    events = [event("message_start", {"message": start}),
              event("content_block_start", {
                  "index": 0, "content_block": {"type": "text", "text": ""}}),
              event("ping", {})]
    for word in _words(knobs.events):
        events.append(event("content_block_delta", {
            "index": 0, "delta": {"type": "text_delta", "text": word}}))
    events.append(event("content_block_stop", {"index": 0}))
    events.append(event("message_delta", {
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": knobs.usage["out"]}}))
    events.append(event("message_stop", {}))
    return _stream_reply(events)


def anthropic_messages(req, body, knobs):
    rid = "msg_mock%d" % req.number
    model = body.get("model", DEFAULT_MODEL)
    if body.get("stream"):
        return _anthropic_stream(rid, model, knobs)
    content = [{"type": "text", "text": "".join(_words(knobs.events))}]
    usage = _anthropic_usage(knobs.usage, knobs.usage["out"])
    return _json_reply(200, _anthropic_message(rid, model, content,
                                               "end_turn", usage))


def anthropic_error(status):
    kinds = {429: "rate_limit_error", 400: "invalid_request_error",
             401: "authentication_error", 404: "not_found_error",
             405: "invalid_request_error",
             529: "overloaded_error"}
    kind = kinds.get(status, "api_error")
    return _json_reply(status, {"type": "error", "error": {
        "type": kind, "message": "%s (mock)" % kind}})


# ---------------------------------------------------------------- Gemini


def _gemini_usage(u, final):
    if not final:
        return {"promptTokenCount": u["in"], "totalTokenCount": u["in"]}
    return {"promptTokenCount": u["in"],
            "candidatesTokenCount": u["out"],
            "cachedContentTokenCount": u["cached"],
            "thoughtsTokenCount": u["reasoning"],
            "totalTokenCount": u["in"] + u["out"] + u["reasoning"]}


def _gemini_chunk(model, text, final, knobs, number):
    candidate = {"content": {"role": "model", "parts": [{"text": text}]},
                 "index": 0}
    if final:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate],
            "usageMetadata": _gemini_usage(knobs.usage, final),
            "modelVersion": model, "responseId": "mock%d" % number}


def gemini_generate(req, model, stream, knobs):
    if not stream:
        text = "".join(_words(knobs.events))
        return _json_reply(200, _gemini_chunk(model, text, True, knobs,
                                              req.number))
    words = _words(knobs.events)
    chunks = [_gemini_chunk(model, w, i == len(words) - 1, knobs, req.number)
              for i, w in enumerate(words)]
    if req.query.get("alt") == "sse":
        # Google ends its SSE events with CRLF CRLF, not LF LF.
        return _stream_reply([_sse(_dumps(c), sep="\r\n\r\n")
                              for c in chunks])
    # Without alt=sse the stream is one JSON array sent piece by piece.
    pieces = [("[" if i == 0 else ",\r\n") + _dumps(c)
              for i, c in enumerate(chunks)]
    pieces[-1] += "]"
    reply = Reply(200, "application/json; charset=UTF-8",
                  events=[p.encode() for p in pieces])
    return reply


def gemini_error(status):
    names = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED",
             404: "NOT_FOUND", 405: "INVALID_ARGUMENT",
             429: "RESOURCE_EXHAUSTED",
             503: "UNAVAILABLE"}
    name = names.get(status, "INTERNAL")
    return _json_reply(status, {"error": {
        "code": status, "message": "%s (mock)" % name, "status": name}})


# ---------------------------------------------------------------- Ollama

# Ollama's fixed-looking fields; none is derived from anything.
OLLAMA_CREATED = "2025-01-01T00:00:00.000000Z"
OLLAMA_DURATIONS = {"total_duration": 5043500667, "load_duration": 5025959,
                    "prompt_eval_duration": 325953000,
                    "eval_duration": 4709213000}


def _ndjson(obj):
    return (_dumps(obj) + "\n").encode()


def _ollama_final(model, u, extra):
    final = {"model": model, "created_at": OLLAMA_CREATED}
    final.update(extra)
    final.update({"done": True, "done_reason": "stop"})
    final.update(OLLAMA_DURATIONS)
    final.update({"prompt_eval_count": u["in"], "eval_count": u["out"]})
    return final


def _ollama_piece(chat, text):
    """The text of one line, where chat or generate puts it."""
    if chat:
        return {"message": {"role": "assistant", "content": text}}
    return {"response": text}


def _ollama_reply(req, body, knobs, chat):
    model = body.get("model", DEFAULT_MODEL)
    # /api/generate's last object also carries the token context.
    end = _ollama_piece(chat, "")
    if not chat:
        end["context"] = [1, 2, 3]
    # Ollama streams unless told not to: absent or null means true.
    if body.get("stream") is False:
        final = _ollama_final(model, knobs.usage, end)
        final.update(_ollama_piece(chat, "".join(_words(knobs.events))))
        return Reply(200, "application/json; charset=utf-8",
                     _ndjson(final))
    events = []
    for word in _words(knobs.events):
        line = {"model": model, "created_at": OLLAMA_CREATED}
        line.update(_ollama_piece(chat, word))
        line["done"] = False
        events.append(_ndjson(line))
    events.append(_ndjson(_ollama_final(model, knobs.usage, end)))
    return Reply(200, "application/x-ndjson", events=events)


def ollama_chat(req, body, knobs):
    return _ollama_reply(req, body, knobs, True)


def ollama_generate(req, body, knobs):
    return _ollama_reply(req, body, knobs, False)


def ollama_embed(req, body, knobs):
    inputs = body.get("input", "")
    count = len(inputs) if isinstance(inputs, list) else 1
    return _json_reply(200, {
        "model": body.get("model", DEFAULT_MODEL),
        "embeddings": [[0.125 * (i + 1)] * 8 for i in range(count)],
        "total_duration": 14143917, "load_duration": 1019500,
        "prompt_eval_count": knobs.usage["in"]})


def ollama_error(status):
    texts = {404: 'model "mock" not found, try pulling it first',
             400: "invalid request (mock)", 405: "method not allowed",
             429: "server busy, please try again (mock)"}
    return _json_reply(status, {"error": texts.get(
        status, "an error was encountered while running the model (mock)")})


# ----------------------------------------------------------------- raw


def deterministic_bytes(count):
    """Byte i is i mod 256, so a test can rebuild what it should see."""
    block = bytes(range(256))
    return (block * (count // 256 + 1))[:count]


def raw_route(req):
    if req.path == "/echo":
        return Reply(200, "application/octet-stream", req.body)
    if req.path == "/echo-len":
        digest = hashlib.sha256(req.body).hexdigest()
        return _json_reply(200, {"length": len(req.body), "sha256": digest})
    if req.path == "/bytes":
        count = req.query.get("n", "0")
        if not count.isdigit() or int(count) > MAX_BYTES:
            return _json_reply(400, {"error": "n must be 0..%d" % MAX_BYTES})
        return Reply(200, "application/octet-stream",
                     deterministic_bytes(int(count)))
    return None


# ---------------------------------------------------------------- router

OPENAI_PATHS = {
    "/v1/chat/completions": openai_chat,
    "/v1/responses": openai_responses,
    "/v1/embeddings": openai_embeddings,
    "/v1/completions": openai_completions,
}
OLLAMA_PATHS = {
    "/api/chat": ollama_chat,
    "/api/generate": ollama_generate,
    "/api/embed": ollama_embed,
}
GEMINI_PATH = re.compile(
    r"^/v1(?:beta|alpha)?/models/([^/:]+):(generateContent|"
    r"streamGenerateContent)$")


def _dialect(req):
    """Returns (dialect name, handler) for a path, or (None, None)."""
    if req.path in OPENAI_PATHS:
        return "openai", OPENAI_PATHS[req.path]
    if req.path == "/v1/messages":
        return "anthropic", anthropic_messages
    if req.path in OLLAMA_PATHS:
        return "ollama", OLLAMA_PATHS[req.path]
    match = GEMINI_PATH.match(req.path)
    if match:
        model, method = match.groups()

        def gemini(r, body, knobs):
            return gemini_generate(r, model, method.startswith("stream"),
                                   knobs)
        return "gemini", gemini
    return None, None


ERRORS = {"openai": openai_error, "anthropic": anthropic_error,
          "gemini": gemini_error, "ollama": ollama_error}
# Ollama sends no request id.
ID_HEADERS = {"openai": "x-request-id", "anthropic": "request-id",
              "gemini": "x-goog-request-id"}


def _provider_reply(req, name, handler, knobs):
    if knobs.status >= 400:
        reply = ERRORS[name](knobs.status)
        if knobs.status == 429:
            reply.add_header("Retry-After", "1")
        return reply
    if req.method != "POST":
        return ERRORS[name](405)
    try:
        body = _json_body(req.body)
    except BadRequest:
        return ERRORS[name](400)
    return handler(req, body, knobs)


def route(req):
    """Answers one request; never raises for bad input."""
    req.number = next(_request_counter)
    knobs = Knobs(req.headers)
    name, handler = _dialect(req)
    if name is None:
        reply = raw_route(req) or _json_reply(404, {"error": "no such path"})
    else:
        reply = _provider_reply(req, name, handler, knobs)
        if name in ID_HEADERS:
            reply.add_header(ID_HEADERS[name], "req_mock%d" % req.number)
    reply.gzip = knobs.gzip
    reply.chunked = knobs.chunked
    reply.die_after = knobs.die_after
    if reply.events is not None or knobs.delay_given:
        reply.delay_s = knobs.delay_s
    return reply


class Gzipper:
    """gzip that can flush after each stream event (Z_SYNC_FLUSH)."""

    def __init__(self):
        self._z = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def piece(self, data):
        return self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def end(self):
        return self._z.flush(zlib.Z_FINISH)


def encode_body(reply):
    return gzip.compress(reply.body) if reply.gzip else reply.body

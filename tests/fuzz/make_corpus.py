#!/usr/bin/env python3
"""Writes the seed corpora, tests/fuzz/corpus/<target>/, in the piece
framing of tests/fuzz/fuzz.h: a control byte, a 16-bit little-endian
length, the bytes. Rerun after changing a seed; the files are small.

    tests/fuzz/make_corpus.py
"""
import gzip
import os
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gen_recording as gr  # noqa: E402

READ, GAP, CLOSE = 1, 2, 4


def piece(ctl, data):
    return bytes([ctl]) + struct.pack("<H", len(data)) + data


def cut(ctl, data, size):
    """data in pieces of size bytes, all with control byte ctl."""
    return b"".join(piece(ctl, data[i:i + size])
                    for i in range(0, len(data), size)) or piece(ctl, b"")


def put(target, name, blob):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


CHAT_REQ = (b'{"model":"gpt-4o-mini","messages":[{"role":"user",'
            b'"content":"hi"}],"stream":true,'
            b'"stream_options":{"include_usage":true},"user":"alice"}')
CHAT_RESP = (b'{"id":"chatcmpl-1","model":"gpt-4o-mini-2024-07-18",'
             b'"choices":[{"index":0,"message":{"role":"assistant",'
             b'"content":"hello"}}],"usage":{"prompt_tokens":12,'
             b'"completion_tokens":3,"total_tokens":15,'
             b'"prompt_tokens_details":{"cached_tokens":2},'
             b'"completion_tokens_details":{"reasoning_tokens":1}}}')
SSE_OPENAI = b"".join(gr.openai_reply(None, 1, True))
SSE_ANTHROPIC = b"".join(gr.anthropic_reply(None, 2, True))
ANTHROPIC_REQ = (b'{"model":"claude-3-5-haiku-20241022","max_tokens":64,'
                 b'"system":"be brief","metadata":{"user_id":"bob"},'
                 b'"messages":[{"role":"user","content":"hi"}],'
                 b'"stream":true}')
GEMINI_REQ = (b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}],'
              b'"systemInstruction":{"parts":[{"text":"x"}]}}')
GEMINI_RESP = (b'{"candidates":[{"content":{"parts":[{"text":"yo"}]}}],'
               b'"usageMetadata":{"promptTokenCount":5,'
               b'"candidatesTokenCount":2,"totalTokenCount":7,'
               b'"cachedContentTokenCount":1,"thoughtsTokenCount":1},'
               b'"modelVersion":"gemini-2.0-flash"}')
GEMINI_SSE = b"data: " + GEMINI_RESP + b"\r\n\r\n"
OLLAMA_REQ = b'{"model":"llama3","messages":[{"role":"user","content":"a"}]}'
OLLAMA_NDJSON = (b'{"model":"llama3","message":{"content":"a"},"done":false}\n'
                 b'{"model":"llama3","message":{"content":"b"},"done":false}'
                 b'\n{"model":"llama3","done":true,"prompt_eval_count":9,'
                 b'"eval_count":2}\n')
ERROR_RESP = (b'{"error":{"type":"rate_limit_error","message":"slow down",'
              b'"code":"429"}}')


def http1_seeds():
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
            b"Authorization: Bearer sk-****\r\nContent-Type: "
            b"application/json\r\nContent-Length: %d\r\n\r\n")
    req = head % len(CHAT_REQ) + CHAT_REQ
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(CHAT_RESP) + CHAT_RESP)
    chunked = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" +
               b"%x\r\n" % len(SSE_OPENAI) + SSE_OPENAI + b"\r\n0\r\n\r\n")
    gz = gzip.compress(CHAT_RESP)
    gzresp = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
              b"Content-Length: %d\r\n\r\n" % len(gz) + gz)
    cont = b"HTTP/1.1 100 Continue\r\n\r\n"
    close = b"HTTP/1.0 200 OK\r\n\r\n" + CHAT_RESP
    return {
        "plain": piece(0, req) + piece(READ, resp),
        "split": cut(0, req, 7) + cut(READ, resp, 13),
        "chunked_sse": piece(0, req) + cut(READ, chunked, 50),
        "gzip": piece(0, req) + piece(READ, gzresp),
        "pipelined": piece(0, req + req) + piece(READ, cont + resp + resp),
        "gap": piece(0, req[:40]) + piece(GAP, req) + piece(READ, resp),
        "close": piece(0, req) + piece(READ | CLOSE, close),
        "get": piece(0, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n") +
        piece(READ, b"HTTP/1.1 204 No Content\r\n\r\n"),
    }


def http2_seeds():
    call = gr.Call(__import__("random").Random(3), 1, 64)
    call.stream = True
    call.pieces = gr.openai_reply(None, 1, True)
    call.ctype = "text/event-stream"
    pre = gr.PREFACE + gr.frame(4, 0, 0, b"")
    srv = gr.frame(4, 0, 0, b"") + gr.frame(4, 1, 0, b"")
    req = b"".join(gr.h2_request(call, 1))
    resp = b"".join(gr.h2_response(call, 1))
    call.gzip = True
    call.stream = False
    call.pieces = [gzip.compress(CHAT_RESP)]
    gzresp = b"".join(gr.h2_response(call, 3))
    req3 = b"".join(gr.h2_request(call, 3))
    rst = gr.frame(3, 0, 3, struct.pack(">I", 8))
    return {
        "stream": piece(0, pre + req) + piece(READ, srv + resp),
        "split": cut(0, pre + req, 9) + cut(READ, srv + resp, 11),
        "two": piece(0, pre + req + req3) + piece(READ, srv + gzresp + resp),
        "reset": piece(0, pre + req3) + piece(READ, srv + rst),
        "gap": piece(0, pre + req) + piece(READ | GAP, resp),
    }


def provider_seeds():
    # route byte, bits byte, u16 request length, request, pieces.
    def one(route, bits, req, *resp):
        return (bytes([route, bits]) + struct.pack("<H", len(req)) + req +
                b"".join(piece(0, r) for r in resp))
    sse_parts = gr.openai_reply(None, 1, True)
    return {
        "openai_json": one(0, 0, CHAT_REQ, CHAT_RESP),
        "openai_sse": one(0, 1, CHAT_REQ, *sse_parts),
        "openai_err": one(0, 8, CHAT_REQ, ERROR_RESP),
        "responses": one(1, 0, b'{"model":"gpt-4o","input":"hi"}',
                         b'{"id":"resp_1","model":"gpt-4o","usage":'
                         b'{"input_tokens":3,"output_tokens":2}}'),
        "anthropic_sse": one(4, 1, ANTHROPIC_REQ,
                             *gr.anthropic_reply(None, 1, True)),
        "gemini": one(5, 0, GEMINI_REQ, GEMINI_RESP),
        "gemini_sse": one(6, 1, GEMINI_REQ, GEMINI_SSE, GEMINI_SSE),
        "gemini_array": one(7, 0, GEMINI_REQ, b"[" + GEMINI_RESP,
                            b"," + GEMINI_RESP + b"]"),
        "ollama": one(8, 2, OLLAMA_REQ, OLLAMA_NDJSON),
        "azure": one(11, 0x10, CHAT_REQ, CHAT_RESP),
        "cut": one(4, 0x61, ANTHROPIC_REQ,
                   *gr.anthropic_reply(None, 1, True)[:2]),
    }


def decode_seeds():
    body = CHAT_RESP * 4
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = z.compress(body) + z.flush()
    seeds = {"gzip": bytes([0]) + cut(0, gzip.compress(body), 40),
             "deflate": bytes([1]) + piece(0, zlib.compress(body)),
             "raw_deflate": bytes([1]) + piece(0, raw),
             "identity": bytes([4]) + piece(0, body),
             "gzip_gzip": bytes([13]) + piece(0, gzip.compress(
                 gzip.compress(gzip.compress(gzip.compress(
                     gzip.compress(body))))))}
    try:
        zs = subprocess.run(["zstd", "-q", "-c"], input=body,
                            capture_output=True, check=True).stdout
        seeds["zstd"] = bytes([3]) + cut(0, zs, 30)
    except (OSError, subprocess.CalledProcessError):
        pass
    return seeds


def scrub_seeds():
    h1 = http1_seeds()
    h2 = http2_seeds()
    req = (b"GET /v1beta/models?key=AIzaSECRET&x=1 HTTP/1.1\r\n"
           b"Host: g\r\nx-goog-api-key: SECRET\r\nCookie: a=b\r\n\r\n")
    return {"h1": h1["split"], "h2": h2["split"], "h2_two": h2["two"],
            "query": cut(0, req, 5) + piece(8 | READ, b"HTTP/1.1 200 OK\r\n"
                                            b"Set-Cookie: s=1\r\n\r\n")}


def replay_seeds():
    import io
    out = io.StringIO()
    gr.generate(out, 6, 3, 7, 64)
    seeds = {"generated": out.getvalue().encode()}
    rec = os.path.join(HERE, "curl.rec")
    if os.path.exists(rec):
        seeds["curl"] = open(rec, "rb").read()
    return seeds


def config_seeds():
    seeds = {}
    ex = os.path.join(ROOT, "tools", "llmtap.example.yaml")
    if os.path.exists(ex):
        seeds["example"] = open(ex, "rb").read()
    seeds["small"] = (b"evaluate_every: 5s\nnotifiers:\n  - name: hook\n"
                      b"    type: webhook\n    url: http://127.0.0.1:1/x\n"
                      b"alerts:\n  - name: cost\n    metric: cost\n"
                      b"    window: 1h\n    threshold: \"> 5\"\n"
                      b"    where: {provider: openai}\n    group_by: "
                      b"[user_id]\n    notify: [hook]\n")
    return seeds


def jview_seeds():
    """Whole JSON texts (no framing): bodies, events, escapes."""
    return {
        "chat": (b'{"model":"gpt-4o-mini","stream":true,"stream_options":'
                 b'{"include_usage":true},"messages":[{"role":"system",'
                 b'"content":"Be brief."},{"role":"user","content":'
                 b'"caf\\u00e9 \\ud83d\\ude00 \\"q\\""}],"user":"u1",'
                 b'"n":3}'),
        "anthropic": (b'{"type":"message_delta","delta":{"stop_reason":'
                      b'"end_turn"},"usage":{"output_tokens":15,'
                      b'"cache_creation":{"ephemeral_1h_input_tokens":2}}}'),
        "array": (b'[{"candidates":[{"content":{"parts":[{"text":"a"}]}}],'
                  b'"usageMetadata":{"promptTokenCount":4}},[],null,true,'
                  b'false,-1,1.5e3]'),
        "escapes": b'{"k":"\\b\\f\\n\\r\\t\\/\\\\","e":{},"a":[[[[]]]]}',
    }


def main():
    for target, seeds in [("fuzz_http1", http1_seeds()),
                          ("fuzz_http2", http2_seeds()),
                          ("fuzz_provider", provider_seeds()),
                          ("fuzz_decode", decode_seeds()),
                          ("fuzz_scrub", scrub_seeds()),
                          ("fuzz_replay", replay_seeds()),
                          ("fuzz_config", config_seeds()),
                          ("fuzz_jview", jview_seeds())]:
        for name, blob in seeds.items():
            put(target, name, blob)
    for name, blob in [("openai", SSE_OPENAI), ("anthropic", SSE_ANTHROPIC),
                       ("gemini_crlf", GEMINI_SSE * 2)]:
        put("fuzz_sse", name, cut(0, blob, 17))
    put("fuzz_ndjson", "ollama", cut(0, OLLAMA_NDJSON, 23))
    put("fuzz_ndjson", "crlf", piece(0, OLLAMA_NDJSON.replace(b"\n",
                                                              b"\r\n")))


if __name__ == "__main__":
    main()

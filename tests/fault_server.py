"""A tiny OpenAI-compatible server on 127.0.0.1 that injects faults, for fault, restart and secret tests.

It answers ``POST /v1/chat/completions`` and ``POST /v1/decisions`` (the OpenAI Decisions API that
``langchain_openai.decisions.OpenAIClassifier`` calls), and ``GET /v1/models``, in one of these modes, per request:

- ``ok``: a normal completion whose content is ``reply(request_json)`` (default: ``{"task": "NONE"}``),
  after ``delay_s`` seconds; for a decision, answers with the probabilities ``decide(request_json)`` gives each
  question's choices (default: even), the most probable chosen;
- ``hang``: holds the request until the server stops or ``hang_s`` elapses (bounded), then drops it;
- ``500``: an HTTP 500 error; ``bad_json``: HTTP 200 with a body that is not JSON;
- ``garbage``: a well-formed completion whose content is nonsense text (a decision: a choice that was not asked);
- ``echo_key``: HTTP 401 whose message quotes the request's API key, as some providers do.

A request with ``"logprobs": true`` gets OpenAI-style token log-probabilities (the text cut into word and
punctuation pieces, each with ``token_logprob``), for confidence tests. A request with ``"stream": true`` gets
the same answer as server-sent events, one ``chat.completion.chunk`` per piece (then a usage chunk when
``stream_options.include_usage`` asks for it, then ``[DONE]``), as LangGraph's ``stream_mode="messages"`` makes
every chat model call stream. A request whose ``tool_choice`` names one function gets the reply as that tool
call's arguments (streamed as argument deltas), as a provider that honours forced tool calls does.

``script`` gives the modes of the first requests in order; later requests use ``mode``. Nothing listens
outside the loopback interface. Standard library only.

Example:
    >>> with FaultServer(mode="500") as server:  # doctest: +SKIP
    ...     model = load_chat_model("openai:fake", base_url=server.base_url)
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = ("ok", "hang", "500", "bad_json", "garbage", "echo_key")
Reply = Callable[[dict[str, Any]], str]
#: A decision request's JSON -> {question name: {choice value: probability}} (missing choices: 0).
Decide = Callable[[dict[str, Any]], dict[str, dict[str, float]]]
GARBAGE = "~~ 42 %% lorem <<>> ipsum"


def _none_reply(request: dict[str, Any]) -> str:
    return '{"task": "NONE", "closing": false}'


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up (a time-out) is expected
            super().handle_error(request, client_address)


class FaultServer:
    """A loopback OpenAI-compatible server with injectable faults (see the module docstring)."""

    def __init__(
        self,
        mode: str = "ok",
        *,
        script: Iterable[str] = (),
        reply: Reply | str = _none_reply,
        decide: Decide | None = None,
        delay_s: float = 0.0,
        hang_s: float = 30.0,
        token_logprob: float = -0.05,
        port: int = 0,
    ) -> None:
        self.script = list(script)
        for name in [mode, *self.script]:
            if name not in MODES:
                raise ValueError(f"unknown fault mode {name!r}: choose one of {MODES}")
        self.mode = mode
        self.reply: Reply = (lambda _request: reply) if isinstance(reply, str) else reply
        self.decide: Decide = decide if decide is not None else _even_decision
        self.delay_s, self.hang_s = delay_s, hang_s
        self.token_logprob = token_logprob
        self.requests: list[dict[str, Any]] = []  # {"mode", "path", "body"} per request, in arrival order
        self.arrived = threading.Event()  # set when the first chat completion request arrives
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._in_flight = 0
        self._httpd = _QuietServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FaultServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fault-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests, stop serving and close the socket (later requests are refused)."""
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def release(self) -> None:
        """Answer every request held by ``delay_s`` (or ``hang``) now; later ones are not held."""
        self._release.set()

    @property
    def in_flight(self) -> int:
        """Chat completion requests that arrived and have not been answered yet."""
        with self._lock:
            return self._in_flight

    def next_mode(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else self.mode

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def do_GET(self) -> None:
                self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                mode = server.next_mode()
                with server._lock:
                    server.requests.append({"mode": mode, "path": self.path, "body": body})
                    server._in_flight += 1
                server.arrived.set()
                try:
                    self._answer(mode, body)
                finally:
                    with server._lock:
                        server._in_flight -= 1

            def _answer(self, mode: str, body: dict[str, Any]) -> None:
                path = self.path.split("?", 1)[0].rstrip("/")
                if not path.endswith(("/chat/completions", "/decisions")):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                elif mode == "hang":
                    server._release.wait(server.hang_s)
                    self.close_connection = True  # drop the request without an answer
                elif mode == "500":
                    self._json(500, {"error": {"message": "injected server error", "type": "server_error"}})
                elif mode == "bad_json":
                    self._send(200, b'{"id": "x", "choices": [ this is not json', "application/json")
                elif mode == "echo_key":
                    key = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
                    message = f"Incorrect API key provided: {key}. You can find your API key at example.invalid."
                    self._json(401, {"error": {"message": message, "type": "invalid_request_error"}})
                else:
                    if server.delay_s:
                        server._release.wait(server.delay_s)
                    if path.endswith("/decisions"):
                        probabilities = {} if mode == "garbage" else server.decide(body)
                        self._json(200, _decision(body, probabilities, garbage=mode == "garbage"))
                        return
                    text = GARBAGE if mode == "garbage" else server.reply(body)
                    logprob = server.token_logprob if body.get("logprobs") else None
                    tool = _forced_tool(body)
                    if body.get("stream"):
                        usage = bool((body.get("stream_options") or {}).get("include_usage"))
                        self._events(_chunks(body.get("model", "fake"), text, logprob, tool, usage=usage))
                    else:
                        self._json(200, _completion(body.get("model", "fake"), text, logprob, tool))

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                self._send(status, json.dumps(payload).encode(), "application/json")

            def _events(self, payloads: list[dict[str, Any]]) -> None:
                """Server-sent events, one per payload, then ``[DONE]``; the connection closes after them."""
                self.close_connection = True
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for payload in payloads:
                        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (time-out)
                    pass

        return Handler


_USAGE = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}


def _forced_tool(body: dict[str, Any]) -> str | None:
    """The function a request's ``tool_choice`` forces, if it names one."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return str(name) if name else None
    return None


def _pieces(text: str) -> list[str]:
    return re.findall(r"\w+|\s+|[^\w\s]", text)


def _token_logprobs(pieces: list[str], token_logprob: float) -> dict[str, Any]:
    content = [{"token": t, "logprob": token_logprob, "bytes": list(t.encode()), "top_logprobs": []} for t in pieces]
    return {"content": content}


def _completion(model: str, text: str, token_logprob: float | None = None, tool: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool is not None:
        call = {"id": "call_0", "type": "function", "function": {"name": tool, "arguments": text}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
    finish = "tool_calls" if tool is not None else "stop"
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
    if token_logprob is not None:
        choice["logprobs"] = _token_logprobs(_pieces(text), token_logprob)
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": _USAGE,
    }


def _chunks(
    model: str, text: str, token_logprob: float | None, tool: str | None, *, usage: bool
) -> list[dict[str, Any]]:
    """The streamed form of :func:`_completion`: a role chunk, one chunk per piece of the text (content, or the
    forced tool call's argument deltas), a finish chunk, and a usage chunk if asked."""
    ident, created = f"chatcmpl-{time.monotonic_ns()}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [choice]}

    first: dict[str, Any] = {"role": "assistant", "content": "" if tool is None else None}
    if tool is not None:
        call = {"index": 0, "id": "call_0", "type": "function", "function": {"name": tool, "arguments": ""}}
        first["tool_calls"] = [call]
    payloads = [chunk(first)]
    for piece in _pieces(text):
        if tool is None:
            logprobs = _token_logprobs([piece], token_logprob) if token_logprob is not None else None
            payloads.append(chunk({"content": piece}, logprobs=logprobs))
        else:
            payloads.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
    payloads.append(chunk({}, finish="tool_calls" if tool is not None else "stop"))
    if usage:
        payloads.append({**chunk({}), "choices": [], "usage": _USAGE})
    return payloads


def _even_decision(request: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {}  # every choice equally likely


def _decision(body: dict[str, Any], probabilities: dict[str, dict[str, float]], *, garbage: bool) -> dict[str, Any]:
    """A Decisions API response. A choice question gets its choices' probabilities (normalised; even where none is
    given) and the most probable choice (the first at a tie; ``garbage``: one that was not asked) with its
    probability as the confidence; a predicate the probability of ``"true"`` (default 0.5); other questions are
    refused."""
    answers: list[dict[str, Any]] = []
    for question in body.get("questions") or []:
        name, given = question.get("name"), probabilities.get(question.get("name")) or {}
        if question.get("type") == "predicate":
            answers.append({"name": name, "type": "predicate", "probability": given.get("true", 0.5)})
            continue
        values = [choice.get("value") for choice in question.get("choices") or []]
        if question.get("type") != "choice" or not values:
            answers.append({"name": name, "type": "refusal"})
            continue
        weights = [max(0.0, float(given.get(value, 0.0))) for value in values]
        total = sum(weights)
        dist = [w / total for w in weights] if total > 0 else [1.0 / len(values)] * len(values)
        best = max(range(len(values)), key=dist.__getitem__)
        answers.append(
            {
                "name": name,
                "type": "choice",
                "choice": GARBAGE if garbage else values[best],
                "probabilities": [{"value": v, "probability": p} for v, p in zip(values, dist, strict=True)],
                "confidence": dist[best],
            }
        )
    return {
        "id": f"decision-{time.monotonic_ns()}",
        "object": "decision",
        "model": body.get("model", "fake"),
        "answers": answers,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }


def decision_input_text(request: dict[str, Any]) -> str:
    """The text of the latest user item of a Decisions API request's ``input`` (a string, or a list of items)."""
    items = request.get("input")
    if isinstance(items, str):
        return items
    for item in reversed(items or []):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return " ".join(str(part.get("text", "")) for part in content or [] if isinstance(part, dict))
    return ""


def keyword_decision(
    keywords: dict[str, str], *, done_words: tuple[str, ...] = ("done",), done: str = "DONE", none: str = "NONE"
) -> Decide:
    """A ``decide`` function for the ``decision`` router's questions: 0.9 on the label of the first keyword found in
    the latest user input; else on ``done`` when one of ``done_words`` is in it (and ``done`` is a choice), else on
    ``none``; the other choices share the remaining 0.1."""

    def decide(request: dict[str, Any]) -> dict[str, dict[str, float]]:
        latest = decision_input_text(request).lower()
        out = {}
        for question in request.get("questions") or []:
            values = [c.get("value") for c in question.get("choices") or []]
            label = next((name for word, name in keywords.items() if word.lower() in latest), None)
            if label is None:
                closing = done in values and any(word.lower() in latest for word in done_words)
                label = done if closing else none
            rest = 0.1 / max(1, len(values) - 1)
            out[question.get("name")] = {v: 0.9 if v == label else rest for v in values}
        return out

    return decide


def keyword_reply(keywords: dict[str, str], *, done_words: tuple[str, ...] = ("done",)) -> Reply:
    """A reply function answering ``{"task": <name>}`` for the first keyword found in the latest user turn
    (the text after the last ``User:`` line of the router prompt); else ``{"task": "NONE", "closing": true}``
    (the user is done: END) when one of ``done_words`` is in it, else NONE (nothing fits)."""

    def reply(request: dict[str, Any]) -> str:
        messages = request.get("messages") or []
        prompt = str(messages[-1].get("content", "")) if messages else ""
        latest = prompt.rsplit("User:", 1)[-1].split("\n", 1)[0].lower()
        task = next((name for word, name in keywords.items() if word.lower() in latest), "NONE")
        closing = task == "NONE" and any(word.lower() in latest for word in done_words)
        return json.dumps({"task": task, "closing": closing})

    return reply

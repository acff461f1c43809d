"""A real HTTP server on 127.0.0.1, in a thread, that records every request it receives: the stand-in for a host an
attacker controls (or an internal service) in the outbound-policy tests.

    with Listener(answer=lambda method, path: (302, {"Location": "http://..."}, b"moved")) as listener:
        listener.url, listener.address, listener.requests

`answer(method, path)` returns (status, headers, body bytes); the default answers an OpenAI model list on
GET .../models and a one-choice chat completion on POST .../chat/completions.
"""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "listener-model"


def openai_answer(method: str, path: str) -> tuple[int, dict, bytes]:
    if method == "GET" and path.endswith("/models"):
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"object": "list", "data": [{"id": MODEL}]}).encode(),
        )
    if method == "POST" and path.endswith("/chat/completions"):
        body = {
            "id": "x",
            "object": "chat.completion",
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
    return 404, {"Content-Type": "text/plain"}, b"not here"


class Listener:
    def __init__(self, answer=openai_answer):
        self.answer = answer
        self.requests: list[dict] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                listener.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                          "body": self.rfile.read(length).decode("utf-8", "replace")})
                status, headers, body = listener.answer(self.command, self.path)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"listener-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> "Listener":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

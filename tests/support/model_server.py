"""A loopback LLM server that only lists its models: Ollama `/api/tags`, OpenAI `/v1/models`.

Enough for reachability checks (`rugpt check`, `/health`); it records each request's path
and Authorization header. It runs in a thread, so a separate process can reach it too.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class ModelListServer:
    def __init__(self, models: list[str]) -> None:
        self.models = models
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Authorization")))
                if self.path == "/api/tags":
                    payload: object = {"models": [{"name": name} for name in server.models]}
                elif self.path == "/v1/models":
                    payload = {
                        "object": "list",
                        "data": [{"id": name, "object": "model"} for name in server.models],
                    }
                else:
                    self.send_error(404)
                    return
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> ModelListServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)

"""HTTP plumbing: routing, JSON rendering and static-file streaming of object downloads.

The standard library's threading HTTP server is enough: API calls are small, and object
downloads go from disk to socket with ``sendfile`` (one thread per connection, keep-alive
for HTTP/1.1 clients). Every response except a file is ``application/json``; files carry
no ``Content-Encoding`` (clients gunzip themselves, as with S3). Single byte ranges are
served, as an object store does, so a client can resume a cut download. Given an SSL
context, it serves HTTPS (for tests of a client's certificate checks).
"""

from __future__ import annotations

import re
import socket
import ssl
import sys
import threading
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from dap_sim import errors
from dap_sim.api import App, FileResponse, Request, Response
from dap_sim.options import ServeOptions

_NS = r"(?P<namespace>[^/]+)"
_TABLE = r"(?P<table>[^/]+)"
Route = tuple[str, re.Pattern[str], Callable[..., Response | FileResponse]]
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def _routes(app: App) -> list[Route]:
    return [
        ("POST", re.compile(r"^/ids/auth/login$"), app.login),
        ("GET", re.compile(rf"^/dap/query/{_NS}/table$"), app.list_tables),
        ("GET", re.compile(rf"^/dap/query/{_NS}/table/{_TABLE}/schema$"), app.schema),
        ("POST", re.compile(rf"^/dap/query/{_NS}/table/{_TABLE}/data$"), app.create_job),
        ("GET", re.compile(r"^/dap/job/(?P<job_id>[^/]+)$"), app.get_job),
        ("POST", re.compile(r"^/dap/object/url$"), app.object_urls),
        ("GET", re.compile(r"^/objects/(?P<job_id>[^/]+)/(?P<name>[^/]+)$"), app.download),
    ]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dap-sim"
    timeout = 600
    server: SimHTTPServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm and
        # delayed ACKs add 40 ms to every small response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.options.verbose:
            sys.stderr.write(f"dap-sim: {self.command} {urlsplit(self.path).path}\n")

    def _dispatch(self) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=self.command,
            path=unquote(parts.path),
            query=parts.query,
            headers={k.lower(): v for k, v in self.headers.items()} | self.server.proto,
            body=self.rfile.read(length) if length else b"",
        )
        try:
            result = self._route(app, request)
        except errors.ApiError as error:
            result = Response(error.status, error.body, error.headers)
        except Exception as error:
            traceback.print_exc()
            message = f"dap-sim internal error on {request.method} {request.path}: {error}"
            result = Response(500, {"error": errors.processing_error(message)})
        app.stats.response(200 if isinstance(result, FileResponse) else result.status)
        if isinstance(result, FileResponse):
            self._send_file(result)
        else:
            self._send_json(result)

    def _route(self, app: App, request: Request) -> Response | FileResponse:
        if request.path.startswith("/_sim/"):
            return app.control(request, request.path[len("/_sim/") :])
        for method, pattern, handler in self.server.routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                return handler(request, **match.groupdict())
        raise errors.not_found(
            "endpoint", request.path, f"no endpoint {request.method} {request.path}"
        )

    def _send_json(self, response: Response) -> None:
        payload = orjson.dumps(response.body)
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_file(self, response: FileResponse) -> None:
        fault = response.fault
        with response.path.open("rb") as file:
            size = file.seek(0, 2)
            start, end = 0, size
            match = _RANGE.match(self.headers.get("Range", ""))
            if match and int(match.group(1)) < size:
                start = int(match.group(1))
                end = min(size, int(match.group(2)) + 1) if match.group(2) else size
            if fault is not None and fault.kind == "truncated_gzip":
                end = start + max(1, min(fault.after_bytes or (end - start) // 2, end - start - 1))
            self.send_response(206 if match else 200)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(end - start))
            if match:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
            self.end_headers()
            count = end - start
            if fault is not None and fault.kind == "cut_connection":
                count = min(count, fault.after_bytes)
            file.seek(start)  # a TLS socket sends by reading the file from where it stands
            sent = self.connection.sendfile(file, start, count) if count else 0
            self.server.app.stats.served(sent)
            if count < end - start:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app: App, tls: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.routes = _routes(app)
        self.tls = tls
        # What a TLS-terminating proxy tells the app, so that object URLs say https
        self.proto = {} if tls is None else {"x-forwarded-proto": "https"}
        super().__init__((app.options.host, app.options.port), _Handler)
        app.options.port = self.server_address[1]

    def finish_request(self, request: Any, client_address: Any) -> None:
        """With TLS, the handshake runs here, in the connection's own thread."""
        if self.tls is not None:
            request = self.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ssl.SSLError):
            return  # a client that refused our certificate: what TLS tests want
        super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        host = self.app.options.host
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{host}:{self.app.options.port}"


def start(
    data_dir: Path | str, options: ServeOptions, tls: ssl.SSLContext | None = None
) -> tuple[SimHTTPServer, threading.Thread]:
    """Start serving in a background thread; stop with ``server.shutdown()``."""
    server = SimHTTPServer(App(Path(data_dir), options), tls)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="dap-sim", daemon=True
    )
    thread.start()
    return server, thread


def stop(server: SimHTTPServer) -> None:
    server.shutdown()
    server.server_close()
    server.app.close()

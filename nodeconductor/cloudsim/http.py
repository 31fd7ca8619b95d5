"""HTTP front end: one ThreadingHTTPServer, path-prefix routing to the services, auth, latency and faults."""

import json
import re
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .core import ApiError, new_id, utcnow


class Request:
    """One parsed HTTP request, plus what routing and authentication learnt about it."""

    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.token = None
        self.version = None
        self.match = None

    def arg(self, name, default=None):
        """Return the last value of a query parameter."""
        values = self.query.get(name)
        return values[-1] if values else default

    def header(self, name, default=None):
        """Return a request header, case-insensitively."""
        return self.headers.get(name, default)

    @property
    def project_id(self):
        """The project the caller's token is scoped to (None when unscoped)."""
        return (self.token or {}).get("project_id")

    @property
    def user_id(self):
        """The caller's user id."""
        return (self.token or {}).get("user_id")

    @property
    def is_admin(self):
        """Whether the caller holds the admin role (Keystone's default policy gate)."""
        return "admin" in (self.token or {}).get("role_names", ())


class Response:
    """What a handler answers: status, JSON-able body (or text) and extra headers."""

    def __init__(self, status=200, body=None, headers=None):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


class Route:
    """A method + path pattern mapped to a named operation and its handler."""

    def __init__(self, method, pattern, operation, handler, auth=True):
        self.method = method
        self.regex = re.compile("^" + pattern + "$")
        self.operation = operation
        self.handler = handler
        self.auth = auth


class Service:
    """Base of each simulated API: its path prefix, routes and error body shape."""

    name = "service"
    prefix = ""

    def __init__(self, state):
        self.state = state
        self.routes = []

    def route(self, method, pattern, operation, handler, auth=True):
        """Register one route."""
        self.routes.append(Route(method, pattern, operation, handler, auth))

    def negotiate(self, req):
        """Pick the request's microversion (services with microversions override this)."""

    def decorate(self, req, resp):
        """Add service-specific response headers."""

    def error_body(self, exc):
        """Render an ApiError; services whose errors carry more than status and message override this."""
        return self.error(exc.status, exc.message)

    def error(self, status, message):
        """Render an error body the way the real service does (Nova/Cinder style by default)."""
        kinds = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
                 405: "badMethod", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType",
                 429: "overLimit", 501: "notImplemented", 503: "serviceUnavailable"}
        return {kinds.get(status, "computeFault"): {"code": status, "message": message}}


UNAUTHORIZED = "The request you have made requires authentication."


class Dispatcher:
    """Routes requests to services and applies authentication, latency, call log and injected faults."""

    def __init__(self, state, services, default):
        self.state = state
        self.services = services
        self.default = default

    def service_for(self, path):
        """Return (service, path below its prefix)."""
        for service in self.services:
            if path == service.prefix or path.startswith(service.prefix + "/"):
                return service, path[len(service.prefix):] or "/"
        return self.default, path

    def authenticate(self, req):
        """Attach the caller's token to the request, or raise 401 for a missing/unknown/expired one."""
        token_id = req.header("X-Auth-Token")
        with self.state.lock:
            token = self.state.tokens.get(token_id) if token_id else None
            if token is None or token["expires"] <= utcnow():
                raise ApiError(401, UNAUTHORIZED)
            req.token = token

    def handle(self, method, raw_path, headers, body):
        """Answer one request; returns (status, headers, body bytes)."""
        parts = urlsplit(raw_path)
        path = re.sub("/+", "/", parts.path)
        if len(path) > 1:
            path = path.rstrip("/")
        query = parse_qs(parts.query, keep_blank_values=True)
        service, sub = self.service_for(path)
        req = Request(method, sub, query, headers, None)
        req.raw = body
        operation = f"{service.name}.unknown"
        try:
            if body:
                try:
                    req.body = json.loads(body)
                except ValueError:
                    req.body = body
            route, allowed = None, False
            for r in service.routes:
                m = r.regex.match(sub)
                if m:
                    allowed = True
                    if r.method == method or (method == "HEAD" and r.method == "GET"):
                        route, req.match = r, m
                        break
            if route is None:
                raise ApiError(405 if allowed else 404, "Method not allowed." if allowed
                               else "The resource could not be found.")
            operation = route.operation(req) if callable(route.operation) else route.operation
            latency = self.state.latency.get(service.name, 0.0)
            if latency:
                time.sleep(latency)
            if route.auth:
                self.authenticate(req)
            service.negotiate(req)
            fault = self.state.faults.take(operation, modes=("http", "hang"))
            if fault is not None and fault.mode == "http":
                raise ApiError(fault.status, fault.message)
            if fault is not None and fault.mode == "hang":
                time.sleep(fault.seconds)
            with self.state.lock:
                resp = route.handler(req)
        except ApiError as e:
            resp = Response(e.status, service.error_body(e), e.headers)
            if e.status == 401:
                # keystonemiddleware, not the service, refuses the token: its body shape for every service.
                resp.body = {"error": {"code": 401, "title": "Unauthorized", "message": e.message}}
                resp.headers["WWW-Authenticate"] = f'Keystone uri="{self.state.base_url}/v3"'
        except Exception as e:  # a simulator bug must answer 500, like a real service, not drop the socket
            traceback.print_exc()
            resp = Response(500, service.error(500, f"Unexpected API Error: {e!r}"))
        if req.version is not None or isinstance(resp.body, dict):
            service.decorate(req, resp)
        if service.name != "sim":
            self.state.calls.record(operation, method, raw_path, resp.status)
        return self.encode(resp, method)

    @staticmethod
    def encode(resp, method):
        """Serialise a Response into status, headers and body bytes."""
        headers = {"X-Openstack-Request-Id": "req-" + new_id()}
        if resp.body is None or resp.status == 204:
            data = b""
        elif isinstance(resp.body, (dict, list)):
            data = json.dumps(resp.body).encode()
            headers["Content-Type"] = "application/json"
        else:
            data = str(resp.body).encode()
            headers.setdefault("Content-Type", "text/plain; charset=UTF-8")
        headers.update(resp.headers)
        if method == "HEAD":
            headers["Content-Length"] = str(len(data))
            data = b""
        return resp.status, headers, data


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive request handler that hands every request to the dispatcher."""

    protocol_version = "HTTP/1.1"
    server_version = "cloudsim/1.0"
    timeout = 120
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK costs 40 ms a request.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by BaseHTTPRequestHandler
        """Stay quiet: tests read the call log instead of stderr."""

    def _serve(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        status, headers, data = self.server.dispatcher.handle(self.command, self.path, self.headers, body)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _read_chunked(self):
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class SimHTTPServer(ThreadingHTTPServer):
    """Threaded server whose close does not wait for idle keep-alive connections."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, dispatcher):
        self.dispatcher = dispatcher
        super().__init__(address, Handler)

    def handle_error(self, request, client_address):
        """Stay quiet when a client gave up on a request (an injected hang outlived its timeout)."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

"""HTTP front of the Close sandbox: auth, rate limiting, injected faults, control endpoints.

Request flow for /api/v1/...: read body -> record -> injected fault? -> auth -> rate limit ->
Store.dispatch (under the lock) -> JSON response. One RLock guards all mutable state; handlers
never sleep or do socket I/O while holding it.
"""

import base64
import binascii
import contextlib
import copy
import dataclasses
import ipaddress
import json
import math
import os
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import crm, page
from .store import Store

API_PREFIX = "/api/v1"
RATE_GROUPS = ("sequence", "email_template", "sms_template", "me", *crm.RATE_GROUPS)
FAULT_KINDS = (
    "rate_limit",
    "error",
    "slow",
    "drop",
    "commit_then_drop",
    "malformed",
    "unauthorized",
    "echo_auth",
)
ERROR_STATUSES = (500, 502, 503, 504)
# "echo_auth": a careless server (or proxy) that repeats the request's Authorization header in
# an error body, or in a 200 that was otherwise handled normally.
ECHO_STATUSES = (200, 400, 402, 403, 404, 418)
# Close does not document its 401 body; this mirrors the {"error": ...} shape it uses elsewhere.
UNAUTHORIZED_BODY = {"error": "Invalid API key"}
_INVALID_JSON = object()


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One /api/v1/ request as received. The Authorization header is never kept."""

    method: str
    path: str  # full request path without the query string, e.g. "/api/v1/sequence/"
    query: dict  # last value per parameter
    body: object  # parsed JSON, or None for no body / a body that is not JSON


@dataclasses.dataclass
class Fault:
    """An injected misbehaviour, matched by method (None = any) and path prefix below /api/v1."""

    kind: str
    method: str | None = None
    path: str = "/sequence/"
    times: int = 1
    status: int | None = None  # "error" and "echo_auth" only
    reset: float | None = None  # "rate_limit" only: seconds put in RateLimit/Retry-After
    delay: float | None = None  # "slow" only: seconds to wait before handling

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.method is not None:
            if not isinstance(self.method, str):
                raise ValueError("method must be a string or None")
            self.method = self.method.upper()
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise ValueError('path must start with "/", e.g. "/sequence/"')
        if self.path.startswith(API_PREFIX + "/"):  # tolerate a full path
            self.path = self.path[len(API_PREFIX) :]
        if not _is_int(self.times) or self.times < 1:
            raise ValueError("times must be a positive integer")
        if self.status is not None and self.kind not in ("error", "echo_auth"):
            raise ValueError("status only applies to 'error' and 'echo_auth' faults")
        self._check_option("reset", "rate_limit")
        self._check_option("delay", "slow")
        if self.kind == "error":
            self.status = 500 if self.status is None else self.status
            if self.status not in ERROR_STATUSES:
                raise ValueError(f"status must be one of {ERROR_STATUSES}")
        if self.kind == "echo_auth":
            self.status = 400 if self.status is None else self.status
            if self.status not in ECHO_STATUSES:
                raise ValueError(f"status must be one of {ECHO_STATUSES}")
        for name in ("reset", "delay"):
            value = getattr(self, name)
            if value is not None and (not _is_number(value) or value < 0):
                raise ValueError(f"{name} must be a non-negative number")
        if self.kind == "slow" and self.delay is None:
            self.delay = 1.0

    def _check_option(self, name, kind):
        if getattr(self, name) is not None and self.kind != kind:
            raise ValueError(f"{name} only applies to {kind!r} faults")

    def matches(self, method, rel_path):
        return (self.method is None or self.method == method) and rel_path.startswith(self.path)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def _num(value):
    """Render 1.0 as "1" so integer-only parsers (Close's own client) keep working."""
    return str(int(value)) if float(value).is_integer() else str(value)


class _RateLimiter:
    """Fixed-window counters per (API key, endpoint group), as Close documents per-group limits."""

    def __init__(self, limit, window):
        self.limit = limit
        self.window = window
        self._buckets = {}  # (key, group) -> [window_start, count]

    def _bucket(self, key, group, now):
        bucket = self._buckets.get((key, group))
        if bucket is None or now - bucket[0] >= self.window:
            bucket = [now, 0]
        return bucket

    def _reset_in(self, bucket, now):
        # window - elapsed, never (start + window) - now: with monotonic readings in the
        # thousands, start + window rounds, and a window that has only just begun could
        # announce window + 1 seconds after ceil (61 for a 60 s window).
        return max(1, math.ceil(self.window - (now - bucket[0])))

    def hit(self, key, group):
        """Count one request. Returns (allowed, remaining, reset_seconds)."""
        now = time.monotonic()
        bucket = self._bucket(key, group, now)
        self._buckets[(key, group)] = bucket
        if bucket[1] >= self.limit:
            return False, 0, self._reset_in(bucket, now)
        bucket[1] += 1
        return True, self.limit - bucket[1], self._reset_in(bucket, now)

    def peek(self, key, group):
        """State without counting (for responses that are not counted, e.g. 401s and faults)."""
        now = time.monotonic()
        bucket = self._bucket(key, group, now)
        return max(0, self.limit - bucket[1]), self._reset_in(bucket, now)

    def clear(self):
        self._buckets.clear()

    def header(self, remaining, reset):
        return ("RateLimit", f"limit={self.limit}, remaining={remaining}, reset={_num(reset)}")

    def exceeded(self, reset, limit=None):
        """Headers and the legacy body of a 429 (body deprecated by Close in 2024, still sent)."""
        limit = self.limit if limit is None else limit
        headers = [
            ("RateLimit", f"limit={limit}, remaining=0, reset={_num(reset)}"),
            ("Retry-After", _num(math.ceil(reset))),  # Retry-After must be whole seconds
        ]
        body = {
            "error": {
                "message": f"API call count exceeded for this {_num(self.window)} second window",
                "rate_reset": reset,
                "rate_limit": limit,
                "rate_window": self.window,
            }
        }
        return headers, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: twenty clients connecting at once on a busy machine
    # overflowed it, and a few got "connection reset" (Close itself takes them all).
    request_queue_size = 128

    def __init__(self, address, sandbox):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sandbox = sandbox
        self.connections = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind a load balancer
    # Headers and body go out in separate writes; with Nagle on, a kept-alive client waits for a
    # delayed ACK (~40 ms) before the body arrives. Close answers in a few ms; so must we.
    disable_nagle_algorithm = True
    server_version = "CloseSandbox/1.0"
    timeout = 30  # idle keep-alive connections are closed after this

    # -- plumbing -----------------------------------------------------------------------------

    def setup(self):
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format, *args):
        if self.server.sandbox.log_requests:
            super().log_message(format, *args)

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # skip trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status, payload=None, headers=(), raw=None, content_type="application/json"):
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self):
        """End the exchange without a status line: the client sees the connection close."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _handle(self):
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. timed out on a slow fault)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send(500, {"error": "Internal error"})

    # -- routing ------------------------------------------------------------------------------

    def _route(self):
        try:
            body_bytes = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(400, {"error": "Invalid request body framing"})
            return
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if path == "/_sandbox" or path.startswith("/_sandbox/"):
            self._control(path, body_bytes)
        elif path.startswith(API_PREFIX + "/"):
            self._api(path, query, body_bytes)
        else:
            self._send(404, {"error": "Not found"})

    def _api(self, path, query, body_bytes):
        sb = self.server.sandbox
        method = self.command
        rel = path[len(API_PREFIX) :]  # "/sequence/..."
        body = _parse_json(body_bytes)
        key = self._api_key()
        first = rel.strip("/").split("/")[0]
        group = first if first in RATE_GROUPS else "other"

        with sb._lock:
            sb._log.append(
                RecordedRequest(method, path, query, None if body is _INVALID_JSON else body)
            )
            fault = sb._take_fault(method, rel)
            resets_at_arrival = sb._resets
            # Faults answer before auth and rate limiting, so they show the bucket untouched.
            peek_header = sb._limiter.header(*sb._limiter.peek(key, group))

        if fault is not None:
            kind = fault.kind
            if kind == "slow":
                time.sleep(fault.delay)  # then handled normally: a timed-out client still writes
                with sb._lock:
                    reset_meanwhile = sb._resets != resets_at_arrival
                if reset_meanwhile:  # its sender has moved on: write nothing into the new state
                    self._drop()
                    return
            elif kind == "drop":
                self._drop()
                return
            elif kind == "commit_then_drop":
                sb._process(method, rel, query, body, key, group)
                self._drop()
                return
            elif kind == "rate_limit":
                headers, payload = sb._limiter.exceeded(1 if fault.reset is None else fault.reset)
                self._send(429, payload, headers)
                return
            elif kind == "error":
                self._send(fault.status, {"error": "Internal error"}, [peek_header])
                return
            elif kind == "malformed":
                self._send(200, raw=b'{"data": [', headers=[peek_header])
                return
            elif kind == "unauthorized":
                self._send(401, UNAUTHORIZED_BODY, [peek_header, _WWW_AUTH])
                return
            elif kind == "echo_auth":
                echo = _auth_echo(self.headers.get("Authorization", ""))
                if fault.status != 200:
                    self._send(fault.status, _echo_error_body(echo), [peek_header])
                    return
                status, headers, data = sb._process(method, rel, query, body, key, group)
                self._send(status, headers=headers, raw=_with_echo(data, echo))
                return

        status, headers, data = sb._process(method, rel, query, body, key, group)
        self._send(status, headers=headers, raw=data)

    def _api_key(self):
        """The API key from HTTP Basic auth (username; Close says leave the password empty)."""
        header = self.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "basic":
            return None  # OAuth bearer tokens are not modelled by the sandbox
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None

    # -- control endpoints (no auth; loopback only) -------------------------------------------

    def _control(self, path, body_bytes):
        sb = self.server.sandbox
        client = ipaddress.ip_address(self.client_address[0].split("%")[0])
        client = getattr(client, "ipv4_mapped", None) or client
        if not client.is_loopback:
            # Unauthenticated control must never be reachable from another machine.
            self._send(403, {"error": "Sandbox control is only available from loopback"})
            return
        refusal = self._control_refusal(body_bytes)
        if refusal is not None:
            self._send(*refusal)
            return
        parts = [p for p in path.split("/") if p][1:]  # drop "_sandbox"
        route = (self.command, parts[0] if parts else "")
        if route == ("POST", "reset"):
            sb.reset()
            self._send(200, {"ok": True})
        elif route == ("POST", "faults"):
            spec = _parse_json(body_bytes)
            allowed = {f.name for f in dataclasses.fields(Fault)}
            if not isinstance(spec, dict) or not set(spec) <= allowed or "kind" not in spec:
                self._send(400, {"error": f"Expected a JSON object with keys from {allowed}"})
                return
            try:
                fault = sb.inject(**spec)
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, {"fault": dataclasses.asdict(fault)})
        elif route == ("POST", "subscriptions"):
            # {"sequence_id": "seq_...", "active": 3, ...}: make Close report live enrollments.
            data = _parse_json(body_bytes)
            counts = {"active", "paused", "finished", "goal", "error"}
            if (
                not isinstance(data, dict)
                or not set(data) <= counts | {"sequence_id"}
                or not all(isinstance(data.get(k, 0), int) for k in counts)
            ):
                self._send(400, {"error": "Expected {sequence_id, active, paused, ...} integers"})
                return
            try:
                sb.set_subscription_counts(
                    data.get("sequence_id"), **{k: v for k, v in data.items() if k in counts}
                )
            except KeyError:
                self._send(404, {"error": "Not found"})
                return
            self._send(200, {"ok": True})
        elif route[1] in crm.CONTROL_ROUTES:
            self._send(*crm.control(sb, self.command, parts, _parse_json(body_bytes)))
        elif route == ("DELETE", "faults"):
            sb.clear_faults()
            self._send(200, {"ok": True})
        elif route == ("GET", "state"):
            with sb._lock:
                state = {
                    "sequences": list(sb._store.sequences.values()),
                    "created_payloads": sb._store.created_payloads,
                    "requests": [dataclasses.asdict(r) for r in sb._log],
                    "faults": [dataclasses.asdict(f) for f in sb._faults],
                }
                data = json.dumps(state).encode()
            self._send(200, raw=data)
        elif self.command == "GET" and route[1] == "sequence" and len(parts) == 2:
            with sb._lock:
                sequence = sb._store.sequences.get(parts[1])
                html = (
                    page.sequence_page(
                        sequence,
                        sb._store.counts_for(parts[1]),
                        sb._store.email_templates,
                        sb._store.sms_templates,
                    )
                    if sequence
                    else page.not_found_page(parts[1])
                )
            self._send(200 if sequence else 404, raw=html.encode(), content_type=_HTML)
        elif route == ("GET", ""):
            with sb._lock:
                html = page.index_page(list(sb._store.sequences.values()))
            self._send(200, raw=html.encode(), content_type=_HTML)
        else:
            self._send(404, {"error": "Not found"})

    def _control_refusal(self, body_bytes):
        """(status, error) when a control request may come from a web page, else None.

        Loopback-only is not enough: any page in the demo user's browser can post to
        127.0.0.1 (a text/plain form post needs no CORS preflight), and DNS rebinding makes a
        foreign page same-origin with us. Scripts and tests send none of what is refused here.
        """
        host = self.headers.get("Host", "")
        if not _is_loopback_host(host):  # a rebound name: its page could also read answers
            return 403, {"error": "Sandbox control answers only to a loopback host name"}
        origin = self.headers.get("Origin")
        if origin is not None and origin.rstrip("/") != f"http://{host}":
            return 403, {"error": f"Sandbox control refuses requests from Origin {origin}"}
        # A GET only shows pages and state (no CORS: another site cannot read them), and the
        # app's "View in Close" links open those pages from another port, "same-site".
        fetched_from = self.headers.get("Sec-Fetch-Site", "same-origin")
        if self.command != "GET" and fetched_from not in ("same-origin", "none"):
            return 403, {"error": "Sandbox control refuses cross-site requests"}
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if body_bytes and content_type != "application/json":
            return 415, {"error": "Sandbox control reads only application/json bodies"}
        return None


def _is_loopback_host(host):
    """Is the Host header's name `localhost` or a loopback address (with or without a port)?"""
    name = urlsplit(f"//{host}").hostname if host else None
    if name is None:
        return False
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _auth_echo(header):
    """The Authorization header as careless servers repeat it: as sent, URL-encoded, decoded,
    and re-encoded URL-safe without padding."""
    _, _, credentials = header.partition(" ")
    try:
        decoded = base64.b64decode(credentials.strip()).decode(errors="replace")
    except (binascii.Error, ValueError):
        decoded = ""
    urlsafe = base64.urlsafe_b64encode(decoded.encode()).decode().rstrip("=")
    return {
        "authorization": header,
        "url_encoded": quote(header, safe=""),
        "credentials": decoded,
        "urlsafe_unpadded": urlsafe,
    }


def _echo_error_body(echo):
    said = f"Bad credentials in Authorization: {echo['authorization']}"
    return {
        "error": said,
        "errors": [f"Request was {echo['url_encoded']}", f"user {echo['credentials']}"],
        "field-errors": {"name": f"sent by {echo['urlsafe_unpadded']}"},
        "echo": echo,
    }


def _with_echo(data, echo):
    """A handled 200 with the echo added to the answer and to every object of a list."""
    try:
        payload = json.loads(data)
    except ValueError:
        return data
    if isinstance(payload, dict):
        payload["echo"] = echo
        if isinstance(payload.get("name"), str):
            payload["name"] += f" ({echo['authorization']})"
        for item in payload.get("data") or []:
            if isinstance(item, dict):
                item["echo"] = echo
                if isinstance(item.get("name"), str):
                    item["name"] += f" ({echo['credentials']})"
    return json.dumps(payload).encode()


_HTML = "text/html; charset=utf-8"
_WWW_AUTH = ("WWW-Authenticate", 'Basic realm="Close API"')


def _parse_json(data):
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:  # includes UnicodeDecodeError
        return _INVALID_JSON


class Sandbox(crm.SandboxCrm):
    """A local, in-process Close API. See closesandbox/__init__.py for usage."""

    def __init__(
        self,
        api_keys=frozenset({"sandbox-key"}),
        host="127.0.0.1",
        port=0,
        rate_limit=(100, 10),
        state_file=None,
        log_requests=False,
    ):
        if isinstance(api_keys, str):  # guard against set("key") splitting into letters
            api_keys = {api_keys}
        self.api_keys = frozenset(api_keys)
        if not self.api_keys or not all(isinstance(k, str) and k for k in self.api_keys):
            raise ValueError("api_keys must be a non-empty collection of non-empty strings")
        limit, window = rate_limit
        if not _is_int(limit) or limit < 1 or not _is_number(window) or window <= 0:
            raise ValueError("rate_limit must be (requests >= 1, window seconds > 0)")
        self.host = host
        self.port = port
        self.state_file = os.fspath(state_file) if state_file is not None else None
        self.log_requests = log_requests
        self._lock = threading.RLock()
        self._store = Store()
        self._limiter = _RateLimiter(limit, window)
        self._faults = []
        self._log = []
        self._resets = 0  # a request still in flight when reset() runs must not write after it
        self._server = None
        self._thread = None
        self._load_state()
        self._store.on_change = self._save_state

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self):
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"closesandbox:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        # Close kept-alive connections too, or their threads would keep answering after stop().
        with server.connections_lock:
            connections = list(server.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def base_url(self):
        if self._server is None:
            raise RuntimeError("Sandbox is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self):
        return f"{self.base_url}{API_PREFIX}/"

    # -- control ------------------------------------------------------------------------------

    def reset(self):
        """Re-seed templates; clear sequences, payloads, faults, request log and rate counters."""
        with self._lock:
            self._resets += 1
            self._store.reseed()
            self._store.clear_sequences()
            self._faults.clear()
            self._log.clear()
            self._limiter.clear()

    def inject(
        self, kind, method=None, path="/sequence/", times=1, status=None, reset=None, delay=None
    ):
        """Queue a fault (see Fault). Accepts a Fault instance as `kind` too. Returns a copy."""
        fault = (
            dataclasses.replace(kind)
            if isinstance(kind, Fault)
            else Fault(kind, method, path, times, status, reset, delay)
        )
        with self._lock:
            self._faults.append(fault)
            return dataclasses.replace(fault)

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    @property
    def faults(self):
        with self._lock:
            return [dataclasses.replace(f) for f in self._faults]

    def _take_fault(self, method, rel_path):
        """First matching fault, consuming one of its `times` (caller holds the lock)."""
        for fault in self._faults:
            if fault.matches(method, rel_path):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _process(self, method, rel, query, body, key, group):
        """Auth, rate limit and the endpoint itself. Returns (status, headers, body bytes)."""
        with self._lock:
            if key not in self.api_keys:
                header = self._limiter.header(*self._limiter.peek(key, group))
                return 401, [header, _WWW_AUTH], json.dumps(UNAUTHORIZED_BODY).encode()
            allowed, remaining, reset = self._limiter.hit(key, group)
            if not allowed:
                headers, payload = self._limiter.exceeded(reset)
                return 429, headers, json.dumps(payload).encode()
            headers = [self._limiter.header(remaining, reset)]
            if body is _INVALID_JSON:
                if method in ("POST", "PUT"):
                    return 400, headers, json.dumps({"error": "Invalid JSON"}).encode()
                body = None
            status, payload, extra = self._store.dispatch(method, rel[1:], query, body)
            # Serialised under the lock: payloads may reference live state.
            return status, headers + extra, json.dumps(payload).encode()

    # -- inspection and test helpers ----------------------------------------------------------

    @property
    def sequences(self):
        with self._lock:
            return copy.deepcopy(list(self._store.sequences.values()))

    @property
    def requests(self):
        with self._lock:
            return [dataclasses.replace(r, body=copy.deepcopy(r.body)) for r in self._log]

    @property
    def created_payloads(self):
        with self._lock:
            return copy.deepcopy(self._store.created_payloads)

    @property
    def email_templates(self):
        with self._lock:
            return copy.deepcopy(list(self._store.email_templates.values()))

    @property
    def sms_templates(self):
        with self._lock:
            return copy.deepcopy(list(self._store.sms_templates.values()))

    def add_email_templates(self, n, shared=True):
        """Bulk-add n generated templates; returns their ids."""
        with self._lock:
            return self._store.add_email_templates(n, shared=shared)

    def update_template(self, template_id, **fields):
        """Change fields of an email or SMS template (e.g. is_shared=False); returns a copy."""
        with self._lock:
            return copy.deepcopy(self._store.update_template(template_id, fields))

    def add_ui_sequence(self, data):
        """Store a sequence as Close's UI would make it (may hold task or other operational
        steps the API cannot create); returns a copy with its ids."""
        with self._lock:
            return copy.deepcopy(self._store.add_ui_sequence(copy.deepcopy(data)))

    def set_subscription_counts(self, seq_id, active=0, paused=0, finished=0, goal=0, error=0):
        with self._lock:
            if seq_id not in self._store.sequences:
                raise KeyError(seq_id)
            counts = {
                "active": active,
                "paused": paused,
                "finished": finished,
                "goal": goal,
                "error": error,
            }
            self._store.subscription_counts[seq_id] = counts
            self._save_state()

    # -- state file ---------------------------------------------------------------------------

    def _load_state(self):
        if not self.state_file or not os.path.exists(self.state_file):
            return
        try:
            with open(self.state_file, encoding="utf-8") as fh:
                state = json.load(fh)
            sequences = {s["id"]: s for s in state["sequences"]}
            counts = dict(state.get("subscription_counts", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A broken demo state should not stop the demo; say so and start empty.
            print(f"closesandbox: ignoring unreadable state file: {exc}", file=sys.stderr)
            return
        self._store.sequences = sequences
        self._store.subscription_counts = counts

    def _save_state(self):
        """Write sequences atomically (called under the lock after every mutation)."""
        if not self.state_file:
            return
        state = {
            "version": 1,
            "sequences": list(self._store.sequences.values()),
            "subscription_counts": self._store.subscription_counts,
        }
        tmp = f"{self.state_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=1)
        os.replace(tmp, self.state_file)

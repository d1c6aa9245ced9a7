"""The daemon's HTTP face on a loopback port: a live status page, `/api/status` (JSON),
`/metrics` (Prometheus text format) and `/health` (200 when watching and the database
answers, else 503). Standard-library server, one thread per request."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from monitor.load.state import Status, utcnow
from monitor.operate import audit
from monitor.operate.metrics import Exposition, Live

if TYPE_CHECKING:
    from monitor.operate.daemon import Daemon

log = logging.getLogger("monitor.web")
STATIC = Path(__file__).with_name("static")
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}
RECENT_LOADS = 50
RECENT_FAILURES = 20
LOAD_FIELDS = ["load_id", "file_name", "target", "mode", "status", "rows_read", "rows_loaded", "rows_rejected",
               "rows_inserted", "rows_updated", "started_at", "finished_at", "duration_ms", "replay_of",
               "duplicate_of", "error"]


def status_payload(live: Live) -> dict[str, Any]:
    """Everything the status page shows, as one JSON-ready dict."""
    payload: dict[str, Any] = {
        "generated_at": utcnow().isoformat(sep=" ", timespec="seconds"),
        "instance": live.daemon.app.state.instance,
        "watching": live.watching(),
        "database_up": live.database_up(),
        "queue": {"queued": live.queue_depth(), "settling": live.settling(), "files": live.queued_files()},
        "in_flight": live.in_flight(),
        "loads": [], "failures": [], "targets": [], "error": None,
    }
    if payload["database_up"]:
        try:
            backend = live.backend
            payload["loads"] = [{k: r.get(k) for k in LOAD_FIELDS} for r in audit.recent(backend, limit=RECENT_LOADS)]
            payload["failures"] = [{k: r.get(k) for k in LOAD_FIELDS}
                                   for r in audit.recent(backend, limit=RECENT_FAILURES, status=Status.FAILED)]
            payload["targets"] = audit.targets(backend)
        except Exception as exc:  # shown on the page instead of failing the request
            payload["error"] = f"cannot read the audit tables: {exc}"
    else:
        payload["error"] = "the database does not answer"
    return payload


def health(live: Live) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 when watching and the database answers, else 503."""
    watching, database = live.watching(), live.database_up()
    ok = watching and database
    body = {"status": "ok" if ok else "unavailable", "watching": watching, "database": database}
    return (HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE), body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], live: Live) -> None:
        self.live = live
        self.exposition = Exposition(live)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "ingest-monitor"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, *, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, data: Any, head: bool) -> None:
        self._send(status, json.dumps(data, default=str).encode(), "application/json", head=head)

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, head: bool) -> None:
        path = urlsplit(self.path).path
        live = self.server.live
        try:
            if path == "/health":
                status, body = health(live)
                self._json(status, body, head)
            elif path == "/metrics":
                self._send(HTTPStatus.OK, self.server.exposition.render(), CONTENT_TYPE_LATEST, head=head)
            elif path == "/api/status":
                self._json(HTTPStatus.OK, status_payload(live), head)
            elif path in ("/", "/index.html"):
                self._static("index.html", head)
            elif path.startswith("/static/"):
                self._static(path.removeprefix("/static/"), head)
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"}, head)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a failing request must not take the daemon down
            log.exception("HTTP %s failed", path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)}, head)

    def _static(self, name: str, head: bool) -> None:
        files = {entry.name: entry for entry in STATIC.iterdir() if entry.suffix in STATIC_TYPES}
        entry = files.get(name)
        if entry is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such file: {name}"}, head)
            return
        self._send(HTTPStatus.OK, entry.read_bytes(), STATIC_TYPES[entry.suffix], head=head)


class StatusServer:
    """The HTTP server of one daemon, serving from a background thread."""

    def __init__(self, daemon: Daemon, host: str, port: int) -> None:
        self.live = Live(daemon)
        self.httpd = _Server((host, port), self.live)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where the status page is."""
        host, port = self.httpd.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
        self.httpd.server_close()


def start_status_server(daemon: Daemon) -> StatusServer | None:
    """Start the server on the configured `http_host`:`http_port` (None when the port is 0,
    or when it cannot listen: loading files matters more than showing them)."""
    settings = daemon.settings
    if settings.http_port == 0:
        log.info("status page, /metrics and /health are off (http_port is 0)")
        return None
    try:
        server = StatusServer(daemon, settings.http_host, settings.http_port)
    except OSError as exc:
        log.error("status page, /metrics and /health are off: cannot listen on %s:%s: %s",
                  settings.http_host, settings.http_port, exc)
        return None
    server.start()
    log.info("status page on %s (also /metrics, /health, /api/status)", server.url)
    return server

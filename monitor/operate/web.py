"""The daemon's HTTP face on a loopback port: a live status page (`/`, filtered by
`?target=&status=&since=`), a page per load (`/load/ID`, its rejects file at
`/load/ID/rejects.csv`), their JSON (`/api/status`, `/api/load/ID`), `/metrics` (Prometheus
text format) and `/health` (200 when files can load: watching, the database answers and holds
the daemon's tables; else 503). Standard-library server, one thread per request."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from monitor.operate.exposition import Exposition
from monitor.operate.metrics import Live
from monitor.operate.pages import BadFilter, Pages

if TYPE_CHECKING:
    from monitor.operate.daemon import Daemon

log = logging.getLogger("monitor.web")
STATIC = Path(__file__).with_name("static")
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}
LOAD_PAGE = re.compile(r"^/load/(\d{1,18})(/rejects\.csv)?$")
REFRESH_SECONDS = 2.0  # what the page shows is read this often in the background
API_LOAD = re.compile(r"^/api/load/(\d{1,18})$")


def health(live: Live) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 when files can load now, else 503."""
    body = live.health()
    return (HTTPStatus.OK if body["status"] == "ok" else HTTPStatus.SERVICE_UNAVAILABLE), body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], live: Live) -> None:
        self.live = live
        self.pages = Pages(live)
        self.exposition = Exposition(live)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "ingest-monitor"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, *, head: bool = False,
              download: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if download:
            self.send_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(download)}")
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
        parts = urlsplit(self.path)
        path, query = parts.path, dict(parse_qsl(parts.query))
        live, pages = self.server.live, self.server.pages
        page = LOAD_PAGE.match(path)
        api_load = API_LOAD.match(path)
        try:
            if path == "/health":
                status, body = health(live)
                self._json(status, body, head)
            elif path == "/metrics":
                self._send(HTTPStatus.OK, self.server.exposition.render(), CONTENT_TYPE_LATEST, head=head)
            elif path == "/api/status":
                self._json(HTTPStatus.OK, pages.overview(query), head)
            elif api_load:
                self._load(int(api_load.group(1)), head)
            elif page and page.group(2):
                self._rejects(int(page.group(1)), head)
            elif page:
                self._static("load.html", head)
            elif path in ("/", "/index.html"):
                self._static("index.html", head)
            elif path.startswith("/static/"):
                self._static(path.removeprefix("/static/"), head)
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"}, head)
        except BadFilter as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)}, head)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a failing request must not take the daemon down
            log.exception("HTTP %s failed", path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)}, head)

    def _load(self, load_id: int, head: bool) -> None:
        if not self.server.live.database_up():
            kept, body = self.server.pages.load_in_outage(load_id)
            self._json(HTTPStatus.OK if kept else HTTPStatus.SERVICE_UNAVAILABLE, body, head)
            return
        item = self.server.pages.load(load_id)
        if item is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no load {load_id}"}, head)
        else:
            self._json(HTTPStatus.OK, item, head)

    def _rejects(self, load_id: int, head: bool) -> None:
        item = self.server.pages.load(load_id) if self.server.live.database_up() else None
        side = Path(item["rejects_file"]) if item and item["rejects_file"] else None
        if item is None or side is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"load {load_id} has no rejects file"}, head)
            return
        self._send(HTTPStatus.OK, side.read_bytes(), "text/csv; charset=utf-8", head=head, download=side.name)

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
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        """Where the status page is."""
        host, port = self.httpd.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"

    def start(self) -> None:
        """Serve in a daemon thread; another keeps what the page shows read (so an outage
        shows what was last known, even if nobody had the page open)."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="http", daemon=True)
        self._thread.start()
        self._refresher = threading.Thread(target=self._refresh, name="page-refresh", daemon=True)
        self._refresher.start()

    def _refresh(self) -> None:
        while not self._stopping.wait(REFRESH_SECONDS):
            try:
                self.httpd.pages.overview({})
            except Exception as exc:  # the page says what went wrong when asked
                log.debug("page refresh failed: %s", exc)

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._stopping.set()
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

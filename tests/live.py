"""Live servers for tests that speak HTTP: an app in a thread of this process, or app instances as processes.

``served(app)`` is what the browser, journey and fuzz fixtures share; ``app_instances(url, n)`` starts
``n`` gunicorn processes on one database, as a deployment behind one port runs them (no ``TESTING``: each
instance's locator checks for approvals in the background, as in production).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

from server.config import PROJECT_ROOT


@contextlib.contextmanager
def served(app) -> Iterator[str]:
    """``app`` on a free loopback port in a background thread; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(process: subprocess.Popen, port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app instance on port {port} exited with code {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the app instance on port {port} did not answer /healthz within {seconds:.0f} s")


@contextlib.contextmanager
def app_instances(database_url: str, n: int = 2, **settings: str) -> Iterator[list[str]]:
    """``n`` gunicorn processes (1 worker, 4 threads each) serving the app on ``database_url``.

    ``settings`` become ``WANGGE_<KEY>`` environment variables; the instances share one secret key, as
    instances behind one port must. Yields their base URLs; every process is stopped on exit.
    """
    env = {**os.environ, "DATABASE_URL": database_url, "WANGGE_TILES": "none", "WANGGE_SECRET_KEY": "i" * 64,
           **{f"WANGGE_{key}": str(value) for key, value in settings.items()}}
    env.pop("WANGGE_TESTING", None)
    gunicorn = PROJECT_ROOT / ".venv" / "bin" / "gunicorn"
    processes: list[tuple[subprocess.Popen, int]] = []
    try:
        for _ in range(n):
            port = _free_port()
            process = subprocess.Popen([str(gunicorn), "-w", "1", "--threads", "4", "-k", "gthread", "-b",
                                        f"127.0.0.1:{port}", "--log-level", "warning", "server.wsgi:app_factory()"],
                                       cwd=PROJECT_ROOT, env=env)
            processes.append((process, port))
        for process, port in processes:
            _wait_healthy(process, port)
        yield [f"http://127.0.0.1:{port}" for _, port in processes]
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

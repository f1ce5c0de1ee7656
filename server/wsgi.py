"""WSGI entry points: ``gunicorn 'server.wsgi:app_factory()'`` for production, in-process gunicorn for serve."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication


def app_factory():
    """Build the app inside each worker (after fork), so no database connection crosses a fork."""
    from server import create_app

    return create_app()


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return app_factory()


def serve_forever(host: str, port: int, workers: int = 2) -> None:
    """Serve with gunicorn until SIGINT/SIGTERM; returns after a clean shutdown."""
    _Gunicorn({"bind": f"{host}:{port}", "workers": workers, "threads": 4, "worker_class": "gthread",
               "accesslog": "-", "graceful_timeout": 10, "timeout": 120}).run()


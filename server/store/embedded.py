"""The embedded PostgreSQL + PostGIS cluster wangge runs for itself when no ``DATABASE_URL`` is set.

The cluster lives in ``<VAR_DIR>/postgres`` and listens only on a Unix socket in ``<VAR_DIR>/run``:
no TCP port, so nothing else on the machine can reach it, and ``trust`` authentication on that socket
is safe. PostgreSQL refuses to run as root, so when we are root the server runs as an unprivileged
system user (``postgres`` when the PostgreSQL package created it, else ``wangge``).
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

DB_NAME = "wangge"
DB_USER = "wangge"
SYSTEM_USERS = ("postgres", "wangge")


class EmbeddedDatabaseError(RuntimeError):
    """The embedded cluster could not be set up, started or stopped; the message says what to do."""


def postgres_bindir() -> Path:
    """Return the bin folder of the newest installed PostgreSQL server (Debian layout, then PATH)."""
    root = Path("/usr/lib/postgresql")
    majors = sorted((p for p in root.glob("*") if (p / "bin" / "initdb").exists()),
                    key=lambda p: int(p.name) if p.name.isdigit() else 0) if root.exists() else []
    if majors:
        return majors[-1] / "bin"
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise EmbeddedDatabaseError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them with:\n"
        "    sudo apt-get install -y postgresql postgis")


def postgres_major(bindir: Path) -> str:
    """Return the major version of the server in ``bindir`` (e.g. ``"15"``)."""
    out = subprocess.run([str(bindir / "pg_ctl"), "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[-1].split(".")[0]


def postgis_installed(bindir: Path) -> bool:
    """Whether the PostGIS extension files exist for this server's major version."""
    sharedir = subprocess.run([str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True)
    candidates = [Path(sharedir.stdout.strip())] if sharedir.returncode == 0 else []
    candidates.append(Path("/usr/share/postgresql") / postgres_major(bindir))
    return any((c / "extension" / "postgis.control").exists() for c in candidates)


@dataclass
class EmbeddedPostgres:
    """A private PostgreSQL cluster in a project-local folder.

    Parameters
    ----------
    var_dir
        Folder holding ``postgres/`` (the cluster), ``run/`` (the socket) and ``log/``.
    port
        Only names the socket file (``.s.PGSQL.<port>``); the cluster listens on no TCP port.
    """

    var_dir: Path
    port: int = 54329

    def __post_init__(self) -> None:
        self.var_dir = Path(self.var_dir).resolve()
        self.data_dir = self.var_dir / "postgres"
        self.socket_dir = self.var_dir / "run"
        self.log_file = self.var_dir / "log" / "postgres.log"

    # -- identity -------------------------------------------------------------------------------
    @property
    def run_as(self) -> str | None:
        """The system user the server runs as, or None to run as ourselves (not root)."""
        if os.geteuid() != 0:
            return None
        for name in SYSTEM_USERS:
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "wangge"],
                       check=True)
        return "wangge"

    def url(self, database: str = DB_NAME) -> str:
        """SQLAlchemy URL of a database in this cluster, over the Unix socket."""
        return (f"postgresql+psycopg://{DB_USER}@/{quote(database)}"
                f"?host={quote(str(self.socket_dir))}&port={self.port}")

    # -- process control --------------------------------------------------------------------------
    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        user = self.run_as
        cmd = ["runuser", "-u", user, "--", *args] if user else args
        result = subprocess.run(cmd, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise EmbeddedDatabaseError(
                f"{Path(args[0]).name} failed (exit {result.returncode}):\n"
                f"{result.stderr.strip() or result.stdout.strip()}"
                f"\nSee {self.log_file}")
        return result

    def _prepare_folders(self) -> None:
        user = self.run_as
        for folder in (self.var_dir, self.data_dir, self.socket_dir, self.log_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
        if user:
            entry = pwd.getpwnam(user)
            # The server user must own the cluster, socket and log folders, and reach them.
            for folder in (self.data_dir, self.socket_dir, self.log_file.parent):
                os.chown(folder, entry.pw_uid, entry.pw_gid)
            _make_traversable(self.var_dir)
        os.chmod(self.data_dir, 0o700)

    def initialised(self) -> bool:
        """Whether ``initdb`` has run in the data folder."""
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster (``initdb``) unless it exists."""
        if self.initialised():
            return
        bindir = postgres_bindir()
        self._prepare_folders()
        log.info("initialising the embedded PostgreSQL cluster in %s", self.data_dir)
        self._run([str(bindir / "initdb"), "-D", str(self.data_dir), "-U", DB_USER, "-A", "trust",
                   "-E", "UTF8", "--locale=C.UTF-8"])
        with open(self.data_dir / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.write("listen_addresses = ''\n"
                       f"unix_socket_directories = '{self.socket_dir}'\n"
                       "unix_socket_permissions = 0770\n"
                       "fsync = on\n"
                       "shared_buffers = 256MB\n"
                       "max_connections = 100\n")

    def pid(self) -> int | None:
        """The postmaster's pid when it runs, else None (a stale pid file counts as not running)."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None
        return pid if _is_postgres_process(pid) else None

    def running(self) -> bool:
        """Whether the server is running and accepting connections on its socket."""
        if self.pid() is None:
            return False
        ready = subprocess.run([str(postgres_bindir() / "pg_isready"), "-h", str(self.socket_dir),
                                "-p", str(self.port), "-U", DB_USER, "-d", "postgres"], capture_output=True)
        return ready.returncode == 0

    def _clear_stale_pidfile(self) -> None:
        # After a crash (kill -9, power loss) postmaster.pid names a dead process, or one now reused by
        # something else; PostgreSQL may refuse to start on it, so we remove it ourselves.
        pidfile = self.data_dir / "postmaster.pid"
        if pidfile.exists() and self.pid() is None:
            log.warning("removing the stale pid file %s left by a crash", pidfile)
            pidfile.unlink()
            for lock in self.socket_dir.glob(f".s.PGSQL.{self.port}*"):
                lock.unlink(missing_ok=True)

    def start(self, timeout: float = 60.0) -> None:
        """Initialise if needed, start the server, and create the database and the PostGIS extension."""
        bindir = postgres_bindir()
        if not postgis_installed(bindir):
            major = postgres_major(bindir)
            raise EmbeddedDatabaseError(
                f"PostGIS is not installed for PostgreSQL {major}. Install it with:\n"
                f"    sudo apt-get install -y postgresql-{major}-postgis-3")
        self.init()
        self._prepare_folders()
        if not self.running():
            self._clear_stale_pidfile()
            log.info("starting the embedded PostgreSQL (socket %s)", self.socket_dir)
            self._run([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                       "-o", f"-p {self.port}", "-w", "-t", str(int(timeout)), "start"])
        self.ensure_database(DB_NAME)

    def follow(self, primary: EmbeddedPostgres, timeout: float = 60.0) -> None:
        """Make this cluster a streaming replica of ``primary`` and start it (read-only, hot standby).

        The first time, ``pg_basebackup -R -X stream`` copies the primary over its socket and writes the
        standby settings; the copy listens on this cluster's own socket folder and port.
        """
        bindir = postgres_bindir()
        if not self.initialised():
            self._prepare_folders()
            log.info("copying %s into a streaming replica in %s", primary.data_dir, self.data_dir)
            self._run([str(bindir / "pg_basebackup"), "-h", str(primary.socket_dir), "-p", str(primary.port),
                       "-U", DB_USER, "-D", str(self.data_dir), "-R", "-X", "stream", "--checkpoint=fast"])
            with open(self.data_dir / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
                conf.write(f"unix_socket_directories = '{self.socket_dir}'\n")
        self._prepare_folders()
        if not self.running():
            self._clear_stale_pidfile()
            self._run([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                       "-o", f"-p {self.port}", "-w", "-t", str(int(timeout)), "start"])

    def ensure_database(self, name: str) -> None:
        """Create database ``name`` with PostGIS (and pg_trgm) unless it exists."""
        import psycopg  # the CLI uses this module without the web stack

        with psycopg.connect(host=str(self.socket_dir), port=self.port, user=DB_USER, dbname="postgres",
                             autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        with psycopg.connect(host=str(self.socket_dir), port=self.port, user=DB_USER, dbname=name,
                             autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists (tests use throw-away databases)."""
        import psycopg

        with psycopg.connect(host=str(self.socket_dir), port=self.port, user=DB_USER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)))

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the server cleanly (``pg_ctl stop -m fast``); a no-op when it is not running."""
        if self.pid() is None:
            self._clear_stale_pidfile()
            return
        log.info("stopping the embedded PostgreSQL")
        self._run([str(postgres_bindir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w",
                   "-t", str(int(timeout)), "stop"])

    def status(self) -> str:
        """One line for ``wangge db status``."""
        if not self.initialised():
            return f"not initialised ({self.data_dir})"
        pid = self.pid()
        if pid is None:
            return f"stopped ({self.data_dir})"
        return f"running, pid {pid}, socket {self.socket_dir}/.s.PGSQL.{self.port}, data {self.data_dir}"


def _is_postgres_process(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user (the server user): still check what it is
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return True  # no /proc: trust kill(0)
    return comm in ("postgres", "postmaster")


def _make_traversable(path: Path) -> None:
    """Let other users pass through ``path`` and its parents (``o+x``), as the server user must."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            os.chmod(folder, mode | 0o001)

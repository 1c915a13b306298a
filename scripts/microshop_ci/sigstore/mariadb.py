"""MariaDB for Trillian: Debian bookworm's packages unpacked into the user cache, run privately.

`apt-get download` fetches the pinned mariadb-server-core and mariadb-client-core (apt checks them
against the signed archive index) and the three libraries they need beyond a base system;
`dpkg-deb -x` unpacks them into CACHE/sigstore/mariadb/VERSION, so nothing is installed and the
system's own MariaDB service, if any, is never touched. The server listens on a unix socket in
its private data folder only (no TCP port); `root` logs in through that socket as the user who
runs the stack, and Trillian and Rekor use the `sigstore` account with a password made at the
first start and kept in a 0600 file.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.core.cache import cache_root, locked
from microshop_ci.core.pins import pin
from microshop_ci.core.tools import ToolError, run_tool
from microshop_ci.sigstore.keys import write_private

PACKAGES = ("mariadb-server-core", "mariadb-client-core")
LIBRARIES = ("libaio1", "libnuma1", "liburing2")
DATABASES = ("trillian", "rekor")
USER = "sigstore"


@dataclass(frozen=True)
class MariaDB:
    """One unpacked MariaDB (root: its usr/ folder) and one private data folder."""

    usr: Path
    data: Path

    @property
    def socket(self) -> Path:
        """The only way in: a unix socket inside the data folder."""
        return self.data / "mysqld.sock"

    @property
    def password_file(self) -> Path:
        """The `sigstore` account's password (0600)."""
        return self.data / "sigstore.password"

    @property
    def env(self) -> dict[str, str]:
        """The unpacked libraries first on the loader's path."""
        return {"LD_LIBRARY_PATH": str(self.usr / "lib" / "x86_64-linux-gnu")}

    def dsn(self, database: str) -> str:
        """Go's MySQL driver DSN for the `sigstore` account over the socket."""
        password = self.password_file.read_text().strip()
        return f"{USER}:{password}@unix({self.socket})/{database}?parseTime=true"

    def _argv(self, program: str) -> list[str]:
        """A server program on this installation and data folder, no option files read."""
        path = self.usr / program
        return [
            str(path),
            "--no-defaults",
            f"--basedir={self.usr}",
            f"--datadir={self.data / 'db'}",
        ]

    def server_argv(self, log: Path) -> list[str]:
        """mariadbd on the private folder, small buffers, no binary log, no TCP."""
        argv = [
            *self._argv("sbin/mariadbd"),
            f"--socket={self.socket}",
            f"--pid-file={self.data / 'mariadbd.pid'}",
            f"--log-error={log}",
            f"--lc-messages-dir={self.usr / 'share' / 'mysql'}",
            "--skip-networking",
            "--innodb-buffer-pool-size=32M",
            "--performance-schema=OFF",
            "--skip-log-bin",
        ]
        return [*argv, f"--user={getpass.getuser()}"] if os.geteuid() == 0 else argv

    def client(self, sql: str, *, timeout: float = 30) -> str:
        """Run SQL as root through the socket; ToolError on a failure."""
        argv = [
            str(self.usr / "bin" / "mariadb"),
            "--no-defaults",
            f"--socket={self.socket}",
            "--user=root",
            "--batch",
            "--skip-column-names",
        ]
        try:
            return run_tool(argv, env=self.env, stdin=sql, timeout=timeout).stdout
        except ToolError as exc:
            errors = [line for line in str(exc).splitlines() if line.startswith("ERROR")]
            raise ToolError(f"mariadb client: {(errors or [str(exc)])[-1]}") from None

    def answers(self) -> bool:
        """True when the server runs SQL."""
        if not self.socket.exists():
            return False
        try:
            return self.client("SELECT 1;", timeout=10).strip() == "1"
        except ToolError:
            return False

    def initialise(self) -> bool:
        """Create the system tables once (mariadb-install-db); True if it did."""
        if (self.data / "db" / "mysql").is_dir():
            return False
        self.data.mkdir(parents=True, exist_ok=True)
        self.data.chmod(0o700)
        shutil.rmtree(self.data / "db", ignore_errors=True)
        argv = [
            *self._argv("bin/mariadb-install-db"),
            f"--user={getpass.getuser()}",
            f"--auth-root-socket-user={getpass.getuser()}",
            "--skip-test-db",
        ]
        run_tool(argv, env=self.env, log=self.data / "install-db.log", timeout=300)
        return True

    def provision(self, trillian_schema: Path) -> None:
        """The databases, the `sigstore` account, and Trillian's tables while it has none."""
        if not self.password_file.is_file():
            write_private(self.password_file, secrets.token_urlsafe(24).encode() + b"\n")
        password = self.password_file.read_text().strip()
        statements = [f"CREATE USER IF NOT EXISTS '{USER}'@'localhost' IDENTIFIED BY '{password}';"]
        for name in DATABASES:
            statements.append(f"CREATE DATABASE IF NOT EXISTS {name};")
            statements.append(f"GRANT ALL PRIVILEGES ON {name}.* TO '{USER}'@'localhost';")
        self.client("\n".join(statements))
        tables = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'trillian';"
        if self.client(tables).strip() == "0":
            self.client("USE trillian;\n" + trillian_schema.read_text())


def install_dir(version: str) -> Path:
    """CACHE/sigstore/mariadb/VERSION (the Debian version, epoch colon as `_`)."""
    return cache_root() / "sigstore" / "mariadb" / version.replace(":", "_")


def pinned_usr() -> Path:
    """The pinned MariaDB's usr/ folder, whether or not it is unpacked yet."""
    return install_dir(pin("MARIADB_DEB_VERSION")) / "usr"


def ensure_mariadb() -> Path:
    """The unpacked usr/ folder of the pinned MariaDB, downloaded and unpacked if missing."""
    version = pin("MARIADB_DEB_VERSION")
    folder = pinned_usr().parent
    done = folder / "packages.json"
    if done.is_file():
        return folder / "usr"
    with locked(folder.parent / ".lock"):
        if done.is_file():
            return folder / "usr"
        shutil.rmtree(folder, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix="mariadb-debs-") as tmp:
            wanted = [f"{name}={version}" for name in PACKAGES] + list(LIBRARIES)
            run_tool(["apt-get", "download", "-q", *wanted], cwd=Path(tmp), timeout=600)
            staging = folder.with_name(folder.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            debs = sorted(Path(tmp).glob("*.deb"))
            for deb in debs:
                run_tool(["dpkg-deb", "-x", str(deb), str(staging)])
            (staging / "packages.json").write_text(json.dumps([d.name for d in debs]) + "\n")
            staging.rename(folder)
    return folder / "usr"

"""The real nginx (Debian package) on loopback, running deploy/nginx/rugpt.conf.

The site file is used as shipped except for the lines that name this host: the listen
address, the engine's address (one `server` line per replica), the allowed client, the web
client's folder and the two log paths. `render_site` replaces each of those exactly once and
fails when one is missing, so the location rules the tests exercise are the production ones,
byte for byte.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import REPO_ROOT, free_port, port_accepts, wait_until

SITE_CONF = REPO_ROOT / "deploy" / "nginx" / "rugpt.conf"
PACKAGES = ("nginx-light", "nginx")
MIME_TYPES = Path("/etc/nginx/mime.types")


UPSTREAM_SERVER = "server 127.0.0.1:8100 max_fails=1 fail_timeout=10s;"


@dataclass(frozen=True)
class SiteAddresses:
    listen: str  # host:port nginx listens on
    upstreams: tuple[str, ...]  # host:port of each engine replica
    allow: str  # the one client address allowed
    logs_dir: Path
    web_root: Path  # the built web client (web/dist)


def render_site(text: str, addresses: SiteAddresses) -> str:
    replacements = {
        "listen 10.0.0.2:80;": f"listen {addresses.listen};",
        UPSTREAM_SERVER: "\n    ".join(
            UPSTREAM_SERVER.replace("127.0.0.1:8100", upstream) for upstream in addresses.upstreams
        ),
        "allow 10.0.0.1;": f"allow {addresses.allow};",
        "root /opt/rugpt/web/dist;": f"root {addresses.web_root};",
        "access_log /var/log/nginx/rugpt.access.log rugpt;": (
            f"access_log {addresses.logs_dir / 'rugpt.access.log'} rugpt;"
        ),
        "error_log /var/log/nginx/rugpt.error.log warn;": (
            f"error_log {addresses.logs_dir / 'rugpt.error.log'} info;"
        ),
    }
    for production, local in replacements.items():
        count = text.count(production)
        assert count == 1, f"{SITE_CONF.name}: expected `{production}` once, found {count}"
        text = text.replace(production, local)
    return text


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def ensure_nginx() -> str:
    """The nginx binary; installed from the Debian packages when missing."""
    found = find_nginx()
    if found:
        return found
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        pytest.skip("nginx is not installed and this system has no apt-get to install it")
    if os.geteuid() != 0:
        pytest.fail("nginx is not installed: run `sudo apt-get install -y nginx-light`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    attempts: list[str] = []

    def install(package: str) -> bool:
        result = subprocess.run(
            [apt_get, "install", "-y", "--no-install-recommends", package],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        attempts.append(f"apt-get install {package}: exit {result.returncode}\n{result.stderr}")
        return result.returncode == 0 and find_nginx() is not None

    if not any(install(p) for p in PACKAGES):
        subprocess.run([apt_get, "update"], env=env, capture_output=True, timeout=600, check=False)
        if not any(install(p) for p in PACKAGES):
            pytest.fail("could not install nginx:\n" + "\n".join(attempts))
    found = find_nginx()
    assert found is not None
    return found


class NginxProcess:
    """nginx in the foreground with its own prefix, pid, temp and log paths under `workdir`."""

    def __init__(self, binary: str, workdir: Path, site: str, port: int) -> None:
        self.binary = binary
        self.workdir = workdir
        self.site = site
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def conf_path(self) -> Path:
        return self.workdir / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    def write_config(self) -> None:
        temp = self.workdir / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        (self.workdir / "rugpt.conf").write_text(self.site, encoding="utf-8")
        # As root the workers would switch to `nobody`, who cannot enter pytest's 0700 folders.
        user = f"user {pwd.getpwuid(0).pw_name};\n" if os.geteuid() == 0 else ""
        mime_types = f"    include {MIME_TYPES};\n" if MIME_TYPES.is_file() else ""
        self.conf_path.write_text(
            f"{user}"
            f"pid {self.workdir / 'nginx.pid'};\n"
            f"error_log {self.error_log} info;\n"
            "worker_processes 1;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            # as Debian's /etc/nginx/nginx.conf: the client's files get their content types
            f"{mime_types}"
            "    default_type application/octet-stream;\n"
            f"    client_body_temp_path {temp / 'body'};\n"
            f"    proxy_temp_path {temp / 'proxy'};\n"
            f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
            f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
            f"    scgi_temp_path {temp / 'scgi'};\n"
            f"    include {self.workdir / 'rugpt.conf'};\n"
            "}\n",
            encoding="utf-8",
        )

    def _command(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.workdir), "-c", str(self.conf_path), *extra]

    def start(self, timeout: float = 15) -> None:
        self.write_config()
        tested = subprocess.run(
            self._command("-t"), capture_output=True, text=True, timeout=timeout, check=False
        )
        assert tested.returncode == 0, f"nginx -t refused the configuration:\n{tested.stderr}"
        self._process = subprocess.Popen(
            self._command("-g", "daemon off;"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self._process
        wait_until(
            lambda: process.poll() is not None or port_accepts("127.0.0.1", self.port),
            timeout=timeout,
            what=f"nginx to listen on port {self.port}",
        )
        if process.poll() is not None:
            self._process = None
            raise AssertionError(f"nginx exited at start:\n{self.read_error_log()}")

    def read_error_log(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def stop(self, timeout: float = 15) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGQUIT)  # graceful: finish open requests, then exit
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def start_front(
    binary: str,
    workdir: Path,
    upstream_port: int | Sequence[int],
    allow: str,
    web_root: Path | None = None,
) -> NginxProcess:
    """nginx with the shipped site in front of 127.0.0.1:`upstream_port` (one port, or one
    per engine replica), on a free port, serving the web client from `web_root` (an empty
    folder when not given)."""
    ports = [upstream_port] if isinstance(upstream_port, int) else list(upstream_port)
    logs_dir = workdir / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    if web_root is None:
        web_root = workdir / "web-dist"
        web_root.mkdir(exist_ok=True)
    last_error: AssertionError | None = None
    for _ in range(3):  # the free port may be taken between probing and nginx binding it
        port = free_port()
        site = render_site(
            SITE_CONF.read_text(encoding="utf-8"),
            SiteAddresses(
                listen=f"127.0.0.1:{port}",
                upstreams=tuple(f"127.0.0.1:{replica}" for replica in ports),
                allow=allow,
                logs_dir=logs_dir,
                web_root=web_root,
            ),
        )
        nginx = NginxProcess(binary, workdir, site, port)
        try:
            nginx.start()
        except AssertionError as exc:
            last_error = exc
            continue
        return nginx
    assert last_error is not None
    raise last_error

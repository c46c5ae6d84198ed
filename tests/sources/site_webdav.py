"""A real WebDAV server (WsgiDAV on cheroot) over a temp folder, for the webdav source's tests.

The server runs in its own process (`python -m tests.sources.site_webdav ROOT PORT PASSWORD`)
and asks for user "alice" and her password (Basic auth). The source's folder is /team/, empty
at start. A folder holding a file named `.fail` answers 500 to every listing (a broken
subfolder); the source skips hidden files, so the marker itself is never listed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
USER = "alice"


class WebDavSite:
    """WsgiDAV serving tmp/webdav; the gptu source reads its /team/ folder."""

    kind = "webdav"

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "webdav"
        self.team = self.root / "team"
        self.team.mkdir(parents=True)
        self.password = secrets.token_urlsafe(12)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "webdav.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.sources.site_webdav", str(self.root), *self.argv()],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    def argv(self) -> list[str]:
        """The server process's arguments after ROOT: port and password."""
        return [str(self.port), self.password]

    def settings(self) -> dict[str, Any]:
        """The source's settings: the /team/ folder, as alice."""
        return {"url": self.base + "/team/", "username": USER}

    def secrets(self) -> dict[str, str]:
        """alice's password."""
        return {"password": self.password}

    def write(self, name: str, text: str) -> None:
        """Write team/<name>.md as a Markdown page holding text."""
        self.put(f"{name}.md", f"# {name.capitalize()}\n\n{text}\n".encode())

    def put(self, rel: str, data: bytes) -> None:
        """Write any file under team/ (subfolders made), so that its ETag changes: WsgiDAV's
        ETag is inode-mtime-size, so a same-size change within one second would keep it."""
        path = self.team / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = path.with_name(f".{path.name}.tmp")
        fresh.write_bytes(data)
        if path.exists():
            mtime = max(time.time(), path.stat().st_mtime + 1)
            os.utime(fresh, (mtime, mtime))
        fresh.replace(path)

    def remove(self, name: str) -> None:
        """Delete team/<name>.md."""
        (self.team / f"{name}.md").unlink()

    def requests(self, method: str) -> int:
        """How many requests of this method the server has answered so far."""
        return sum(f'"{method} ' in line for line in self.log.read_text().splitlines())

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def _wait_ready(self) -> None:
        """Wait until the server lists /team/ for alice; fail with its log when it does not."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                answer = httpx.request(
                    "PROPFIND",
                    self.base + "/team/",
                    headers={"Depth": "0"},
                    auth=(USER, self.password),
                    timeout=2,
                )
                if answer.status_code == 207:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            "WsgiDAV did not start (install it: .venv/bin/pip install wsgidav cheroot):\n"
            + self.log.read_text()[-3000:]
        )


def start(tmp: Path) -> WebDavSite:
    """Start a WebDAV server with an empty /team/ folder."""
    return WebDavSite(tmp)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(root: str, port: int, password: str) -> None:
    """Run WsgiDAV over root on 127.0.0.1:port until killed (the server process)."""
    from cheroot import wsgi
    from wsgidav.dav_error import HTTP_INTERNAL_ERROR, DAVError
    from wsgidav.fs_dav_provider import FilesystemProvider, FolderResource
    from wsgidav.wsgidav_app import WsgiDAVApp

    class BrokenWhenMarked(FolderResource):
        """A folder that fails to list while it holds a `.fail` file."""

        def get_member_names(self) -> list[str]:
            if os.path.exists(os.path.join(self._file_path, ".fail")):
                raise DAVError(HTTP_INTERNAL_ERROR, "this folder is broken on purpose")
            names: list[str] = super().get_member_names()
            return names

    class Provider(FilesystemProvider):
        """The file system, with folders that can be broken on purpose."""

        def get_resource_inst(self, path: str, environ: dict[str, Any]) -> Any:
            found = super().get_resource_inst(path, environ)
            if isinstance(found, FolderResource):
                return BrokenWhenMarked(path, environ, found._file_path)
            return found

    config = {
        "host": "127.0.0.1",
        "port": port,
        "provider_mapping": {"/": Provider(root)},
        "http_authenticator": {
            "domain_controller": None,
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
        },
        "simple_dc": {"user_mapping": {"*": {USER: {"password": password}}}},
        "verbose": 3,
        "logging": {"enable": True},
    }
    server = wsgi.Server(("127.0.0.1", port), WsgiDAVApp(config))
    server.start()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3])

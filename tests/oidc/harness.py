"""Start the test OpenID provider (tests/oidc/server.mjs, panva's oidc-provider) and drive its
login and consent pages with plain httpx, the way a browser would: no JavaScript is involved.

    with OIDCProvider({"clients": [...], "users": {...}}) as op:
        op.issuer, op.port, op.discovery()            # http://127.0.0.1:<port>, its metadata
        url = authorize_url(op, client_id=..., redirect_uri=..., state=..., nonce=...,
                            code_challenge=...)
        callback = drive_login(http, url, "alice", "alice-pw", stop_at=redirect_uri)

Needs `node` (>= 20) and node_modules from `npm ci --prefix tests/oidc` (or a directory named by
OIDC_PROVIDER_NODE_MODULES). Nothing here reaches the internet.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urljoin

import httpx

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.mjs"


class OIDCProvider:
    """One provider process on 127.0.0.1:<free port>; `config` is server.mjs's (see README.md)."""

    def __init__(
        self, config: dict | None = None, *, node: str | None = None, start_timeout: float = 20
    ):
        self.config = config or {}
        self.node = node or os.environ.get("OIDC_NODE") or shutil.which("node") or "node"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.issuer = ""
        self.port = 0
        self.base_url = ""  # where it listens; equals issuer unless config["issuer"] overrides it
        self._dir = tempfile.TemporaryDirectory(prefix="oidc-op-")
        self._discovery: dict | None = None

    def start(self) -> OIDCProvider:
        cfg = Path(self._dir.name) / "config.json"
        cfg.write_text(json.dumps(self.config))
        self.log_path = Path(self._dir.name) / "provider.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [self.node, str(SERVER), str(cfg)],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        line: list[bytes] = []
        reader = threading.Thread(
            target=lambda: line.append(self.proc.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(self.start_timeout)
        if not line or not line[0]:
            self.stop()
            raise RuntimeError(
                f"OIDC provider did not start: {self.log_path.read_text(errors='replace')[-2000:]}"
            )
        ready = json.loads(line[0])
        self.issuer, self.port = ready["issuer"], ready["port"]
        self.base_url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._dir.cleanup()

    def __enter__(self) -> OIDCProvider:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def discovery(self) -> dict:
        if self._discovery is None:
            r = httpx.get(f"{self.base_url}/.well-known/openid-configuration", timeout=5)
            r.raise_for_status()
            self._discovery = r.json()
        return self._discovery


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)"""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    op: OIDCProvider,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_challenge: str,
    scope: str = "openid email profile groups",
    **extra: str,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{op.discovery()['authorization_endpoint']}?{urlencode(params)}"


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.errors: list[str] = []
        self._in_error = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(
                {
                    "action": a.get("action", ""),
                    "method": (a.get("method") or "get").lower(),
                    "fields": {},
                }
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif "error" in (a.get("class") or ""):
            self._in_error = True

    def handle_data(self, data):
        if self._in_error and data.strip():
            self.errors.append(data.strip())
            self._in_error = False


class LoginFailed(AssertionError):
    pass


def drive_login(
    http: httpx.Client,
    url: str,
    username: str,
    password: str,
    *,
    stop_at: str,
    consent: bool = True,
    max_steps: int = 20,
) -> str:
    """Follow redirects from `url` (an authorize URL, or the product's login URL that redirects to
    one), fill the provider's sign-in form and press Allow (or Deny when consent=False) on the
    consent page. Returns the first redirect target that starts with `stop_at` (the callback URL
    with ?code=&state=&iss=, or ?error=access_denied) without requesting it. `http` keeps the
    provider's cookies, so a second call for the same user skips the sign-in (an SSO session)."""
    method, data = "GET", None
    for _ in range(max_steps):
        if url.startswith(stop_at):
            return url
        r = http.request(method, url, data=data, follow_redirects=False)
        method, data = "GET", None
        if r.is_redirect:
            url = urljoin(str(r.url), r.headers["location"])
            continue
        if r.status_code != 200:
            raise LoginFailed(f"{r.status_code} at {r.url}: {r.text[:500]}")
        page = _Forms()
        page.feed(r.text)
        if page.errors and "username" in (page.forms[0]["fields"] if page.forms else {}):
            raise LoginFailed(f"sign-in refused: {page.errors[0]}")
        if not page.forms:
            raise LoginFailed(f"no form at {r.url}: {r.text[:500]}")
        form = page.forms[0]
        if "username" in form["fields"] or "password" in form["fields"]:
            form["fields"].update(username=username, password=password)
        elif not consent:
            form = page.forms[-1]  # Deny
        url = urljoin(str(r.url), form["action"])
        if form["method"] == "post":
            method, data = "POST", form["fields"]
        elif form["fields"]:
            url = f"{url}?{urlencode(form['fields'])}"
    raise LoginFailed(f"too many steps, last at {url}")

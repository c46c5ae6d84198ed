"""A WebDAV folder (Nextcloud, ownCloud, SharePoint, Apache mod_dav): every file gptu reads in it
and its subfolders, listed with PROPFIND one level at a time (many servers refuse Depth:
infinity) and read with GET."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
from lxml import etree
from pydantic import Field, field_validator

from ingest.parse import extension, is_supported
from sources.base import Entry, ItemError, Kind, Scan, Settings, SourceError, too_big

DAV = "{DAV:}"
PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:getetag/>'
    b"<d:getlastmodified/><d:getcontentlength/></d:prop></d:propfind>"
)
# No entities, no network, no huge trees: a listing is data from another server.
XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
SHOWN_FAILURES = 3


class WebDavSettings(Settings):
    """Where the folder is and who reads it."""

    url: str = Field(
        description="the folder's URL, e.g. https://cloud.example.org/remote.php/dav/files/alice/Team/"
    )
    username: str = Field("", description="the user to sign in as; empty for anonymous access")
    max_files: int = Field(5000, ge=1, description="the most files listed in one sync")
    extensions: list[str] | None = Field(
        None, description='the extensions to take (".md", ".pdf"); default: every kind gptu reads'
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an http:// or https:// folder URL")
        if parts.username or parts.password:
            raise ValueError(
                "put the user in username and the password in the password secret, not in url"
            )
        return url.strip()

    @field_validator("extensions")
    @classmethod
    def _dotted(cls, extensions: list[str] | None) -> list[str] | None:
        if extensions is None:
            return None
        return ["." + ext.strip().lower().lstrip(".") for ext in extensions if ext.strip(" .")]


@dataclass
class Member:
    """One file or folder in a PROPFIND answer."""

    url: str
    rel: str  # the path under the source folder, decoded, "/"-joined
    folder: bool
    etag: str = ""
    modified: str = ""
    size: int | None = None

    @property
    def version(self) -> str:
        """The ETag, else Last-Modified and size."""
        return self.etag or f"{self.modified}|{'' if self.size is None else self.size}"


@dataclass
class Walk:
    """What one listing met on the way, said in scan.notes at the end."""

    listed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # extension → files not taken
    failed: list[str] = field(default_factory=list)  # "sub/folder (HTTP 500)"


class WebDavFolder:
    """Lists one WebDAV folder tree and reads its files."""

    def __init__(self, settings: WebDavSettings, secrets: Mapping[str, str]) -> None:
        self.settings = settings
        self.url = settings.url if settings.url.endswith("/") else settings.url + "/"
        self.base_path = unquote(urlsplit(self.url).path)
        password = secrets.get("password", "")
        self.auth = httpx.BasicAuth(settings.username, password) if settings.username else None

    def entries(self, scan: Scan) -> Iterator[Entry]:
        """Every file gptu takes under the folder, folder by folder, names in order."""
        walk = Walk()
        with self._client(scan.timeout) as client:
            members = self._root(client)
            yield from self._descend(client, members, scan, walk)
        scan.notes.extend(notes(walk))
        if walk.failed:
            scan.complete = False

    def _descend(
        self, client: httpx.Client, first: list[Member], scan: Scan, walk: Walk
    ) -> Iterator[Entry]:
        """Walk the tree depth-first from the root's members, listing a folder only when its
        turn comes; stop at max_files files (or as many folders: a symlink loop on the server)."""
        limit, pending, seen = self.settings.max_files, list[Member](), {""}
        members = first
        while True:
            folders = []
            for member in members:
                if member.rel.rsplit("/", 1)[-1].startswith("."):
                    continue  # hidden: .git, .Trash, editor locks
                if member.folder and member.rel not in seen:  # a folder listed twice: once
                    seen.add(member.rel)
                    folders.append(member)
                elif not member.folder and self._takes(member, walk):
                    if walk.listed >= limit:
                        stop(scan, f"stopped at {limit} files (max_files)")
                        return
                    walk.listed += 1
                    yield self._entry(member, scan)
            pending.extend(reversed(folders))  # popped in name order
            if not pending:
                return
            if len(seen) > limit:
                stop(scan, f"stopped at more than {limit} folders (max_files)")
                return
            members = self._subfolder(client, pending.pop(), walk)

    def _takes(self, member: Member, walk: Walk) -> bool:
        """Whether the file is one gptu reads (or one of the chosen extensions); count the rest."""
        ext = extension(member.rel)
        wanted = self.settings.extensions
        taken = ext in wanted if wanted is not None else is_supported(member.rel)
        if taken:
            return True
        walk.skipped[ext or "(none)"] = walk.skipped.get(ext or "(none)", 0) + 1
        return False

    def _root(self, client: httpx.Client) -> list[Member]:
        """The source folder's members; SourceError when it cannot be listed at all."""
        try:
            response = propfind(client, self.url)
        except httpx.TimeoutException as exc:
            raise SourceError(
                f"the WebDAV server at {self.url} did not answer in time: try again later"
            ) from exc
        except httpx.TooManyRedirects as exc:
            raise SourceError(f"{self.url} redirects in a loop: check the URL") from exc
        except httpx.TransportError as exc:
            raise SourceError(
                f"cannot reach the WebDAV server at {self.url} ({type(exc).__name__}): "
                "check the URL and that the server is up"
            ) from exc
        if response.status_code != 207:
            raise SourceError(self._refusal(response))
        moved = unquote(urlsplit(str(response.url)).path).rstrip("/") + "/"
        if moved != self.base_path:
            raise SourceError(f"{self.url} redirects to {response.url}: use that URL")
        members, itself = self._parse(response)
        if not itself.folder:
            raise SourceError(
                f"{self.settings.url} is a file, not a folder: give the URL of its folder"
            )
        return members

    def _refusal(self, response: httpx.Response) -> str:
        """Why the source folder could not be listed, for a person."""
        status, user = response.status_code, self.settings.username
        if status == 401 and user:
            return f"the WebDAV server at {self.url} refused the user {user}'s password: check it"
        if status == 401:
            return (
                f"the WebDAV server at {self.url} asks for a user name and password: "
                "set username and the password secret"
            )
        if status == 403:
            who = user or "anonymous users"
            return f"the WebDAV server at {self.url} does not let {who} list the folder: check it"
        if status == 404:
            return f"there is no folder at {self.url} on the WebDAV server: check the URL"
        if status >= 500:
            return f"the WebDAV server at {self.url} failed (HTTP {status}): try again later"
        return (
            f"{self.url} is not a WebDAV folder (PROPFIND answered HTTP {status}): check the URL "
            "(Nextcloud and ownCloud: https://HOST/remote.php/dav/files/USER/FOLDER/)"
        )

    def _subfolder(self, client: httpx.Client, sub: Member, walk: Walk) -> list[Member]:
        """A subfolder's members; [] and a note when it cannot be listed (its files are kept)."""
        try:
            response = propfind(client, sub.url)
        except httpx.TimeoutException:
            walk.failed.append(f"{sub.rel} (no answer in time)")
            return []
        except httpx.TransportError as exc:
            raise SourceError(
                f"the WebDAV server at {self.url} went away while listing {sub.rel}: try later"
            ) from exc
        if response.status_code != 207:
            walk.failed.append(f"{sub.rel} (HTTP {response.status_code})")
            return []
        try:
            return self._parse(response)[0]
        except SourceError:
            walk.failed.append(f"{sub.rel} (not a WebDAV answer)")
            return []

    def _parse(self, response: httpx.Response) -> tuple[list[Member], Member]:
        """The folder's members (sorted by name) and the folder itself, from a multistatus answer;
        SourceError when the answer does not name the folder asked for (then its members, if
        any, could not be told apart from strangers: an empty listing would delete them all)."""
        try:
            root = etree.fromstring(response.content, XML)
        except etree.XMLSyntaxError as exc:
            raise SourceError(
                f"{self.url} did not answer as a WebDAV server (unreadable listing)"
            ) from exc
        asked = unquote(urlsplit(str(response.url)).path).rstrip("/")
        members: list[Member] = []
        itself: Member | None = None
        for node in root.iter(f"{DAV}response"):
            member = self._member(node, str(response.url))
            if member is None:
                continue
            if unquote(urlsplit(member.url).path).rstrip("/") == asked:
                itself = member
            else:
                members.append(member)
        if itself is None:
            raise SourceError(
                f"the WebDAV server at {self.url} answered about other paths than the folder asked "
                "for (a proxy that rewrites paths?): check the URL"
            )
        return sorted(members, key=lambda m: m.rel), itself

    def _member(self, node: Any, asked: str) -> Member | None:
        """One <response> as a Member; None when outside the source folder or without props."""
        href = (node.findtext(f"{DAV}href") or "").strip()
        url = urljoin(asked, href)
        path = unquote(urlsplit(url).path)
        if not href or not (path.rstrip("/") + "/").startswith(self.base_path):
            return None
        props = ok_props(node)
        if props is None:
            return None
        size = (props.findtext(f"{DAV}getcontentlength") or "").strip()
        return Member(
            url=url,
            rel=path[len(self.base_path) :].strip("/"),
            folder=props.find(f"{DAV}resourcetype/{DAV}collection") is not None,
            etag=(props.findtext(f"{DAV}getetag") or "").strip(),
            modified=(props.findtext(f"{DAV}getlastmodified") or "").strip(),
            size=int(size) if size.isdigit() else None,
        )

    def _entry(self, member: Member, scan: Scan) -> Entry:
        """The Entry for one listed file."""
        return Entry(
            key=member.rel,
            version=member.version,
            label=member.rel,
            parse_as=extension(member.rel),
            read=self._reader(member, scan),
            size=member.size,
        )

    def _reader(self, member: Member, scan: Scan) -> Callable[[], bytes]:
        """read() for one file: GET it, streamed, at most scan.max_bytes."""

        def read() -> bytes:
            with self._client(scan.timeout) as client:
                try:
                    return fetch(client, member, scan.max_bytes)
                except httpx.TimeoutException as exc:  # this file is slow, not the server gone
                    raise ItemError(
                        f"{member.rel} did not arrive in time: try again later"
                    ) from exc
                except httpx.TransportError as exc:
                    raise SourceError(
                        f"the WebDAV server at {self.url} went away while reading {member.rel}"
                    ) from exc

        return read

    def _client(self, timeout: float) -> httpx.Client:
        """An HTTP client signed in as the user (Basic auth)."""
        return httpx.Client(auth=self.auth, timeout=timeout, follow_redirects=True, max_redirects=5)


def propfind(client: httpx.Client, url: str) -> httpx.Response:
    """PROPFIND one level of a folder."""
    headers = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
    return client.request("PROPFIND", url, content=PROPFIND, headers=headers)


def ok_props(node: Any) -> Any:
    """The <prop> of a <response>'s propstat with status 200 (or without status); None if none."""
    for propstat in node.iter(f"{DAV}propstat"):
        status = propstat.findtext(f"{DAV}status") or ""
        prop = propstat.find(f"{DAV}prop")
        if prop is not None and (not status.strip() or " 200" in status):
            return prop
    return None


def fetch(client: httpx.Client, member: Member, limit: int) -> bytes:
    """GET a file, stopping as soon as it is over limit bytes (ItemError)."""
    with client.stream("GET", member.url) as response:
        if response.status_code == 404:
            raise ItemError(f"{member.rel} is no longer on the WebDAV server")
        if response.status_code != 200:
            raise ItemError(
                f"the WebDAV server refused to send {member.rel} (HTTP {response.status_code})"
            )
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise ItemError(too_big(member.rel, int(length), limit))
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > limit:
                raise ItemError(too_big(member.rel, None, limit))
        return bytes(data)


def stop(scan: Scan, why: str) -> None:
    """End a listing early: what was not listed is kept, not deleted."""
    scan.complete = False
    scan.notes.append(f"{why}; the files after that were not looked at")


def notes(walk: Walk) -> list[str]:
    """What to say on the source's row about files skipped and folders not listed."""
    said = []
    if walk.skipped:
        kinds = ", ".join(sorted(walk.skipped, key=lambda e: -walk.skipped[e])[:5])
        count = sum(walk.skipped.values())
        said.append(
            f"skipped {count} file{'s' * (count != 1)} of kinds gptu does not take ({kinds})"
        )
    if walk.failed:
        shown = "; ".join(walk.failed[:SHOWN_FAILURES]) + (
            "; …" if len(walk.failed) > SHOWN_FAILURES else ""
        )
        said.append(
            f"could not list {len(walk.failed)} folder(s): {shown}; their files are kept as before"
        )
    return said


KIND = Kind(
    name="webdav",
    summary="A WebDAV folder (Nextcloud, ownCloud, SharePoint): files gptu reads, subfolders too",
    settings=WebDavSettings,
    secrets=("password",),
    make=lambda settings, secrets: WebDavFolder(settings, secrets),
)

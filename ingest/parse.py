"""Turn a stored file into text blocks with page numbers and section titles (unstructured, fast)."""

from __future__ import annotations

import codecs
import copy
import os
import shutil
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    UnsafeDocument,
    UnsupportedDocument,
    trimmed,
)
from ingest.ocr import IMAGES, Ocr, Progress, read_image, read_pdf_pages
from ingest.pdftext import read_pieces
from ingest.tables import table_text

SUPPORTED = {
    ".pdf": "PDF",
    ".docx": "Word",
    ".doc": "Word 97-2003",
    ".pptx": "PowerPoint",
    ".ppt": "PowerPoint 97-2003",
    ".xlsx": "Excel",
    ".xls": "Excel 97-2003",
    ".csv": "CSV",
    ".tsv": "TSV",
    ".html": "HTML",
    ".htm": "HTML",
    ".md": "Markdown",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".rst": "reStructuredText",
    ".org": "Org",
    ".rtf": "RTF",
    ".odt": "OpenDocument text",
    ".epub": "EPUB",
    ".eml": "e-mail",
    ".msg": "Outlook e-mail",
    ".json": "JSON",
    ".xml": "XML",
    **{ext: f"{kind} image" for ext, kind in IMAGES.items()},
}
ZIP_BASED = {".docx", ".pptx", ".xlsx", ".odt", ".epub"}
# Plain text in whatever encoding its author's system used: detected before parsing.
LEGACY_ENCODED = {".csv", ".tsv", ".txt", ".text", ".log"}
OOXML = {".docx", ".pptx", ".xlsx"}
STRICT_NAMESPACE = b"http://purl.oclc.org/ooxml/"
SOFFICE_FILTERS = {
    ".docx": "MS Word 2007 XML",
    ".xlsx": "Calc MS Excel 2007 XML",
    ".pptx": "Impress MS PowerPoint 2007 XML",
}
NEEDS_SOFFICE = {".doc", ".ppt"}
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
SKIPPED_KINDS = {"Header", "Footer", "PageBreak", "Image"}
MAX_SECTION_CHARS = 200
BOMB_RATIO = 200
PGP_ARMOUR = b"-----BEGIN PGP MESSAGE-----"
ENCRYPTED_EMAIL = (
    "encrypted e-mail (PGP or S/MIME): the body cannot be read; forward or save it decrypted "
    "and upload that"
)


@dataclass(frozen=True)
class Block:
    """One piece of text from a document, with where it sits."""

    text: str
    page: int | None
    section: str | None


@dataclass(frozen=True)
class Parsed:
    """What a document holds: its text blocks and its page count."""

    blocks: list[Block]
    pages: int
    ocr_pages: int = 0  # pages whose text came from OCR


def extension(filename: str) -> str:
    """The lower-case extension of a file name, '.html.json' counting as '.json'."""
    return Path(filename).suffix.lower()


def is_supported(filename: str) -> bool:
    """Whether gptu can read files with this name's extension."""
    return extension(filename) in SUPPORTED


def parse_file(
    path: Path,
    filename: str,
    max_unpacked_bytes: int,
    ocr: Ocr | None = None,
    progress: Progress | None = None,
    scratch: Path | None = None,
) -> Parsed:
    """Parse the file at path, named filename by its owner; raise an IngestError on bad input.

    With `ocr`, images and the pages of a PDF that have no text are read by OCR, and
    `progress` hears the share of those pages done; without it they fail or stay empty.
    `scratch` is the folder for working copies (the system's temporary folder when None).
    """
    ext = extension(filename)
    if ext not in SUPPORTED:
        shown = ext or "(no extension)"
        raise UnsupportedDocument(f"unsupported file type {shown}; gptu reads {supported_list()}")
    if path.stat().st_size == 0:
        raise EmptyDocument("empty file (0 bytes): upload it again with its content")
    pdf_count = pdf_pages(path) if ext == ".pdf" else None  # refuses encrypted, damaged PDFs
    check_container(path, ext, max_unpacked_bytes)
    if ext in NEEDS_SOFFICE and not shutil.which("soffice"):
        raise UnsupportedDocument(
            f"reading {SUPPORTED[ext]} files needs LibreOffice (soffice), not installed on this "
            "server: install it (apt-get install libreoffice-writer-nogui) or save the file in "
            "a newer format, then retry it"
        )
    if ext in IMAGES:
        return parse_image(path, ext, ocr, progress)
    if ext == ".pdf":
        blocks = pdf_blocks(path, scratch)
    else:
        blocks = to_blocks(partition(path, ext, scratch))
    pages = (
        pdf_count if pdf_count is not None else max((b.page for b in blocks if b.page), default=1)
    )
    ocr_pages = 0
    if ext == ".pdf" and ocr is not None:
        blocks, ocr_pages = with_scanned_pages(path, blocks, pages, ocr, progress)
    if not blocks:
        raise EmptyDocument(empty_reason(ext, ocr_pages))
    return Parsed(blocks=blocks, pages=pages, ocr_pages=ocr_pages)


def parse_image(path: Path, ext: str, ocr: Ocr | None, progress: Progress | None) -> Parsed:
    """An image (each frame of a TIFF a page), read by OCR."""
    if ocr is None:
        raise UnsupportedDocument(
            f"reading {SUPPORTED[ext]}s needs OCR, which is turned off here (GPTU_OCR=false): "
            "turn it on, then retry it"
        )
    found = read_image(path, ext, ocr, progress)
    blocks = ocr_blocks(found, None)
    if not blocks:
        raise EmptyDocument(f"no text found: OCR read no text in this {SUPPORTED[ext]}")
    return Parsed(blocks=blocks, pages=len(found), ocr_pages=len(found))


def pdf_blocks(path: Path, scratch: Path | None) -> list[Block]:
    """A PDF's text read by pdfium (ingest.pdftext), each piece under the title above it;
    unstructured's reading (pdfminer) when pdfium cannot open the file."""
    from pypdfium2 import PdfiumError

    try:
        pieces = read_pieces(path)
    except PdfiumError:
        return to_blocks(partition(path, ".pdf", scratch))
    blocks: list[Block] = []
    section: str | None = None
    for piece in pieces:
        text = piece.text.replace("\x00", "")
        if not text:
            continue
        if piece.title:
            section = text[:MAX_SECTION_CHARS]
        blocks.append(Block(text=text, page=piece.page, section=section))
    return blocks


def with_scanned_pages(
    path: Path, blocks: list[Block], pages: int, ocr: Ocr, progress: Progress | None
) -> tuple[list[Block], int]:
    """The PDF's blocks with those that OCR reads on its pages without text, in page order;
    and the number of pages OCR read."""
    with_text = {b.page for b in blocks}
    scanned = [n for n in range(1, pages + 1) if n not in with_text]
    if not scanned:
        return blocks, 0
    found = read_pdf_pages(path, scanned, ocr, progress)
    merged: list[Block] = []
    section: str | None = None
    pending = iter(sorted(found))
    number = next(pending, None)
    for block in blocks:
        while number is not None and block.page is not None and number < block.page:
            merged += ocr_blocks({number: found[number]}, section)
            number = next(pending, None)
        merged.append(block)
        section = block.section
    while number is not None:
        merged += ocr_blocks({number: found[number]}, section)
        number = next(pending, None)
    return merged, len(scanned)


def ocr_blocks(found: dict[int, list[str]], section: str | None) -> list[Block]:
    """Blocks of OCR text, each paragraph with its page, under the section that precedes it."""
    return [
        Block(text=text, page=number, section=section)
        for number, paragraphs in sorted(found.items())
        for paragraph in paragraphs
        if (text := paragraph.replace("\x00", "").strip())
    ]


def supported_list() -> str:
    """The supported extensions as a short, readable list."""
    return ", ".join(sorted(e.lstrip(".") for e in SUPPORTED))


def check_container(path: Path, ext: str, max_unpacked_bytes: int) -> None:
    """Refuse encrypted, damaged or bomb-like files before a parser touches them (PDFs:
    `pdf_pages`, whose count parse_file keeps)."""
    if ext in ZIP_BASED:
        check_zip(path, ext, max_unpacked_bytes)
    elif ext == ".eml":
        check_email(path, max_unpacked_bytes)
    elif ext == ".msg":
        check_msg(path, max_unpacked_bytes)


def pdf_pages(path: Path) -> int:
    """The PDF's page count; an IngestError when it needs a password or pypdf cannot read its
    structure (pypdf's own errors, its limits such as a page tree nested over 100 levels, and
    the plain exceptions its docs warn that broken files raise)."""
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise EncryptedDocument(
                "encrypted PDF: password required; upload a copy saved without a password"
            )
        return len(reader.pages)
    except LimitReachedError as exc:
        raise UnsafeDocument(
            f"refused: this PDF's structure passes a safety limit ({trimmed(exc)}); it is "
            "damaged or built to stall readers: save it again as PDF (print to PDF) and retry"
        ) from exc
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError,
            RecursionError) as exc:  # fmt: skip
        raise CorruptDocument(
            f"damaged PDF, cannot be opened ({trimmed(exc)}): save it again as PDF and retry"
        ) from exc


def check_zip(path: Path, ext: str, max_unpacked_bytes: int) -> None:
    """Fail on password-protected Office files, broken zips and decompression bombs."""
    with path.open("rb") as fh:
        head = fh.read(8)
    kind = SUPPORTED[ext]
    if ext in OOXML and head == OLE_MAGIC:
        raise EncryptedDocument(
            f"encrypted {kind} document: password required; upload a copy saved without a password"
        )
    if not zipfile.is_zipfile(path):
        raise CorruptDocument(
            f"damaged {kind} file: not a valid {ext} archive; open and save it again, or "
            f"check that it is really a {ext} file"
        )
    packed = max(1, path.stat().st_size)

    def too_big(unpacked: int) -> bool:
        return unpacked > max_unpacked_bytes or (
            unpacked > 50_000_000 and unpacked / packed > BOMB_RATIO
        )

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = unpacked_size(archive, too_big)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        raise CorruptDocument(
            f"damaged {kind} file ({exc}); open and save it again, then upload that"
        ) from exc
    if too_big(unpacked):
        raise UnsafeDocument(
            f"refused: {kind} file would unpack to {unpacked // 1_000_000} MB "
            f"(limit {max_unpacked_bytes // 1_000_000} MB); looks like a decompression bomb"
        )


def unpacked_size(archive: zipfile.ZipFile, enough: Callable[[int], bool]) -> int:
    """The bytes the archive's members really inflate to (not the sizes they declare),
    counted while inflating and stopped as soon as `enough` says so."""
    total = 0
    for info in archive.infolist():
        probe = copy.copy(info)
        probe.file_size = 1 << 62  # read the member's stream to its end, whatever it declares
        with archive.open(probe) as member:
            while block := member.read(1 << 20):
                total += len(block)
                if enough(total):
                    return total
    return total


def check_email(path: Path, max_unpacked_bytes: int) -> None:
    """Fail on PGP or S/MIME encrypted e-mail, whose body cannot be read, and on attachments
    that are too large or bomb-like (each zip-based one gets the same check as a file)."""
    import email
    from email import policy

    with path.open("rb") as fh:
        message = email.message_from_binary_file(fh, policy=policy.default)
    ctype = message.get_content_type()
    if ctype == "multipart/encrypted" or ctype in {
        "application/pkcs7-mime",
        "application/x-pkcs7-mime",
    }:
        raise EncryptedDocument(ENCRYPTED_EMAIL)
    check_attachments(
        (
            (part.get_filename() or "", part.get_payload(decode=True))
            for part in message.iter_attachments()
        ),
        max_unpacked_bytes,
    )


def check_msg(path: Path, max_unpacked_bytes: int) -> None:
    """Fail on an encrypted Outlook .msg (S/MIME; PGP inline or as PGP/MIME's attachment with
    no readable body), which would otherwise index ciphertext or fail as "empty"; its
    attachments get the same checks as an .eml's (an unreadable .msg is left to the parser)."""
    from oxmsg import Message

    try:
        message = Message.load(str(path))
        attachments = [(a.file_name or "", a.file_bytes) for a in message.attachments]
        body, html = message.body or "", message.html_body or ""
        smime = message.message_class == "IPM.Note.SMIME"  # ".MultipartSigned" is only signed
    except Exception:  # damaged: partition() reports it with the parser's reason
        return
    sealed = [name for name, data in attachments if extension(name) == ".p7m"
              or (isinstance(data, bytes) and data.lstrip().startswith(PGP_ARMOUR))]  # fmt: skip
    if smime or PGP_ARMOUR.decode() in body or (sealed and not body.strip() and not html.strip()):
        raise EncryptedDocument(ENCRYPTED_EMAIL)
    check_attachments(attachments, max_unpacked_bytes)


def check_attachments(attachments: Iterable[tuple[str, object]], max_unpacked_bytes: int) -> None:
    """Refuse when the attachments together exceed the limit or a zip-based one is a bomb."""
    total = 0
    for name, payload in attachments:
        data = payload if isinstance(payload, bytes) else b""
        total += len(data)
        if total > max_unpacked_bytes:
            raise UnsafeDocument(
                f"refused: the e-mail's attachments exceed {max_unpacked_bytes // 1_000_000} MB"
            )
        ext = extension(name)
        if ext in ZIP_BASED:
            with tempfile.TemporaryDirectory() as tmp:
                inner = Path(tmp) / f"attachment{ext}"
                inner.write_bytes(data)
                check_zip(inner, ext, max_unpacked_bytes - total)


def strict_ooxml(path: Path) -> bool:
    """Whether an Office file is "Strict Open XML" (ISO 29500 Strict, a Save As option of
    Word, Excel and PowerPoint), which python-docx and friends cannot open."""
    try:
        with zipfile.ZipFile(path) as archive:
            return STRICT_NAMESPACE in archive.read("_rels/.rels")
    except (KeyError, zipfile.BadZipFile, OSError):
        return False


def transitional_copy(path: Path, ext: str, folder: Path) -> Path:
    """The Strict Open XML file converted by LibreOffice into the usual (transitional) form."""
    soffice = shutil.which("soffice")
    if soffice is None:
        raise UnsupportedDocument(
            f"this {SUPPORTED[ext]} file is saved as Strict Open XML; reading it needs "
            "LibreOffice (soffice), not installed on this server: install it, or save the "
            "file again in the usual (not Strict) format, then retry it"
        )
    source = folder / f"strict{ext}"
    shutil.copyfile(path, source)
    # a profile of its own: two conversions at once would share and break the default one
    # (a file URI needs an absolute path: `make run` keeps its data in the relative data/)
    profile = f"-env:UserInstallation={folder.absolute().as_uri()}/lo"
    command = [soffice, "--headless", "--norestore", profile,
               "--convert-to", f"{ext.lstrip('.')}:{SOFFICE_FILTERS[ext]}",
               "--outdir", str(folder / "out"), str(source)]  # fmt: skip
    try:
        subprocess.run(command, capture_output=True, timeout=300, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        raise CorruptDocument(
            f"could not convert this Strict Open XML {SUPPORTED[ext]} file with LibreOffice; "
            "save it again in the usual (not Strict) format and upload that"
        ) from exc
    converted = folder / "out" / source.name
    if not converted.is_file():
        raise CorruptDocument(
            f"could not convert this Strict Open XML {SUPPORTED[ext]} file with LibreOffice; "
            "save it again in the usual (not Strict) format and upload that"
        )
    return converted


def partition(path: Path, ext: str, scratch: Path | None = None) -> list[Any]:
    """Run unstructured on a link to the file that carries its real extension, made in
    `scratch` (never beside the stored file: a worker killed here leaves it behind).

    A hard link, not a symlink: unstructured resolves symlinks and would then guess the type
    from the content of an extension-less file, which picks other parsers. A Strict Open XML
    file is first converted by LibreOffice.
    """
    from unstructured.partition.auto import partition as auto_partition

    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    if ext in OOXML and strict_ooxml(path):
        with tempfile.TemporaryDirectory(prefix="strict-", dir=scratch) as tmp:
            return partition(transitional_copy(path, ext, Path(tmp)), ext, scratch)

    with tempfile.TemporaryDirectory(prefix="parse-", dir=scratch) as tmp:
        named = Path(tmp) / f"document{ext}"
        try:
            os.link(path, named)
        except OSError:
            shutil.copyfile(path, named)
        kwargs: dict[str, Any] = {"strategy": "fast", "languages": ["eng"]}
        if ext in LEGACY_ENCODED and (encoding := legacy_encoding(path)):
            kwargs["encoding"] = encoding
        try:
            if ext in {".eml", ".msg"}:
                return partition_email(auto_partition, named, kwargs)
            return list(auto_partition(filename=str(named), **kwargs))
        except (KeyboardInterrupt, SystemExit, MemoryError):
            raise
        except Exception as exc:
            raise CorruptDocument(
                f"could not read this {SUPPORTED[ext]} file (damaged or not really {ext}): "
                f"{trimmed(exc)}"
            ) from exc


def legacy_encoding(path: Path) -> str | None:
    """The encoding of a text file that is not UTF-8 (Shift-JIS, cp1252 …), as charset-normalizer
    guesses it; None for UTF-8 (or when nothing fits, and the parser's error says so)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        return None
    except UnicodeDecodeError:
        from charset_normalizer import from_path

        best = from_path(path).best()
        return best.encoding if best is not None else None


def partition_email(auto_partition: Any, named: Path, kwargs: dict[str, Any]) -> list[Any]:
    """Parse an e-mail with its attachments, or without them when an attachment is unreadable."""
    try:
        return list(auto_partition(filename=str(named), process_attachments=True, **kwargs))
    except ValueError:
        return list(auto_partition(filename=str(named), process_attachments=False, **kwargs))


def to_blocks(elements: list[Any]) -> list[Block]:
    """Keep the text of elements, each with its page and the section title above it."""
    blocks: list[Block] = []
    section: str | None = None
    for element in elements:
        kind = type(element).__name__
        text = (element.text or "").replace("\x00", "").strip()  # Postgres refuses NUL
        table = getattr(element.metadata, "text_as_html", None) if kind == "Table" else None
        if table and text:
            text = table_text(table, text).replace("\x00", "")
        if kind in SKIPPED_KINDS or not text:
            continue
        if kind == "Title":
            section = " ".join(text.split())[:MAX_SECTION_CHARS]
        page = getattr(element.metadata, "page_number", None)
        blocks.append(Block(text=text, page=page, section=section))
    return blocks


def empty_reason(ext: str, ocr_pages: int) -> str:
    """Why a document gave no text, in words a person understands."""
    if ext == ".pdf" and ocr_pages:
        pages = f"{ocr_pages} page" + ("s" if ocr_pages > 1 else "")
        return f"no text found: the PDF has no text layer and OCR found none on its {pages}"
    if ext == ".pdf":
        return (
            "no extractable text: the PDF has no text layer (a scan?) and OCR is turned off "
            "here (GPTU_OCR=false): turn it on, then retry it"
        )
    return "no extractable text: the document is empty (nothing to search)"

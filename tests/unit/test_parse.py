"""Parsing real documents offline, and refusing bad ones with reasons people understand."""

from __future__ import annotations

import io
import shutil
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    IngestError,
    UnsafeDocument,
    UnsupportedDocument,
)
from ingest.parse import OLE_MAGIC, parse_file
from ingest.tables import table_text
from tests.conftest import CORPUS
from tests.office import strict_copy
from tests.pdfs import deep_tree_pdf, text_pdf

LIMIT = 1 << 30
ONE_PER_FORMAT = [
    "fake-memo.pdf", "docx-tables.docx", "sample-presentation.pptx", "vodafone.xlsx",
    "tests-example.xls", "table-multi-row-column-cells-actual.csv", "stanley-cups-with-emoji.tsv",
    "fake-html-cp1252.html", "umlauts-non-utf8.md", "norwich-city.txt", "README-w-include.rst",
    "README.org", "fake-doc.rtf", "fake.odt", "family-day.eml", "fake-email-attachment.msg",
    "arbitrary-records.json", "factbook-utf-16.xml", "winter-sports.epub",
    "fake-doc-emphasized-text.doc",
]  # fmt: skip


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Make every outgoing connection fail, and record the attempts."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts


@pytest.mark.parametrize("name", ONE_PER_FORMAT)
def test_every_format_parses_with_the_network_unreachable(
    name: str, no_network: list[object], tmp_path: Path
) -> None:
    if name.endswith(".doc") and not shutil.which("soffice"):
        with pytest.raises(UnsupportedDocument, match="LibreOffice"):
            parse_file(CORPUS / name, name, LIMIT)
        return
    stored = tmp_path / "0123abcd"  # stored files carry no extension, like data/files/<sha256>
    shutil.copyfile(CORPUS / name, stored)
    parsed = parse_file(stored, name, LIMIT)
    assert parsed.blocks and all(b.text.strip() for b in parsed.blocks)
    assert parsed.pages >= 1
    assert no_network == []


def test_pdf_pages_and_sections_are_kept() -> None:
    parsed = parse_file(CORPUS / "reliance.pdf", "reliance.pdf", LIMIT)
    assert parsed.pages == 3
    assert {b.page for b in parsed.blocks} == {1, 2, 3}
    assert any(b.section for b in parsed.blocks)


def test_a_table_keeps_one_line_per_row_with_its_cells_labelled_by_the_header() -> None:
    parsed = parse_file(CORPUS / "docx-tables.docx", "docx-tables.docx", LIMIT)
    texts = [b.text for b in parsed.blocks]
    assert "Header Col 1: Lorem ipsum; Header Col 2: A link example" in texts
    html = "<table><tr><td>Grade</td><td>Notice</td></tr><tr><td>N1 to N3</td><td>48 hours</td>"
    html += "</tr><tr><td>N4</td><td>1 month</td></tr></table>"
    assert table_text(html, "x") == "Grade: N1 to N3; Notice: 48 hours\nGrade: N4; Notice: 1 month"
    assert table_text("<table><tr><td>a</td></tr></table>", "a") == "a"  # one row: as it was


def test_owner_password_pdf_still_reads() -> None:
    parsed = parse_file(CORPUS / "copy-protected.pdf", "copy-protected.pdf", LIMIT)
    assert parsed.pages == 2 and parsed.blocks


@pytest.mark.parametrize(
    ("name", "error", "reason"),
    [
        ("password.pdf", EncryptedDocument, "encrypted PDF: password required"),
        ("MEDRPT-2024-PAT-3847_medical_report_scan.pdf", EmptyDocument, "OCR is turned off"),
        ("empty.txt", EmptyDocument, "empty file"),
        ("empty.xlsx", EmptyDocument, "no extractable text"),
        ("fake-encrypted.eml", EncryptedDocument, "encrypted e-mail"),
    ],
)
def test_bad_corpus_files_fail_with_a_reason(name: str, error: type, reason: str) -> None:
    with pytest.raises(error, match=reason):
        parse_file(CORPUS / name, name, LIMIT)


def test_unsupported_type(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"RIFF\0\0\0\0WEBPVP8 ")
    with pytest.raises(UnsupportedDocument, match=r"unsupported file type \.webp; .*png"):
        parse_file(path, "photo.webp", LIMIT)


def test_random_bytes_named_docx_is_damaged(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"this is not a zip archive at all" * 10)
    with pytest.raises(CorruptDocument, match=r"damaged Word file"):
        parse_file(path, "report.docx", LIMIT)


def test_truncated_pdf_is_damaged_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes((CORPUS / "fake-memo.pdf").read_bytes()[:700])
    with pytest.raises(IngestError):
        parse_file(path, "memo.pdf", LIMIT)


def test_password_protected_office_file(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(OLE_MAGIC + b"\0" * 600)
    with pytest.raises(EncryptedDocument, match="password required"):
        parse_file(path, "salaries.xlsx", LIMIT)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (60 << 20))
    path = tmp_path / "x"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 1 << 20
    with pytest.raises(UnsafeDocument, match="decompression bomb"):
        parse_file(path, "bomb.docx", LIMIT)
    with pytest.raises(UnsafeDocument):
        parse_file(path, "bomb.docx", 10 << 20)


def bomb_entries(size: int) -> bytes:
    """A docx-like zip whose document.xml inflates to size bytes of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * size)
    return buffer.getvalue()


def test_a_bomb_that_lies_about_its_sizes_is_measured_by_inflating(tmp_path: Path) -> None:
    data = bytearray(bomb_entries(60 << 20))
    # rewrite every declared uncompressed size (local headers and central directory) to 1 KB
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (found := data.find(signature, start)) != -1:
            data[found + offset : found + offset + 4] = (1024).to_bytes(4, "little")
            start = found + 4
    path = tmp_path / "liar"
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert sum(i.file_size for i in archive.infolist()) < 4096  # what it claims
    with pytest.raises(UnsafeDocument, match="decompression bomb"):  # it inflates past 10 MB
        parse_file(path, "liar.docx", 10 << 20)


def test_e_mail_attachments_get_the_bomb_guard(tmp_path: Path) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", "Q3"
    message.set_content("The report is attached.")
    message.add_attachment(bomb_entries(60 << 20), maintype="application",
                           subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                           filename="report.docx")  # fmt: skip
    path = tmp_path / "mail"
    path.write_bytes(message.as_bytes())
    with pytest.raises(UnsafeDocument, match="decompression bomb"):
        parse_file(path, "q3.eml", LIMIT)
    with pytest.raises(UnsafeDocument, match="attachments exceed"):
        parse_file(path, "q3.eml", 1000)


def test_outlook_msg_attachments_get_the_same_guard() -> None:
    msg = CORPUS / "fake-email-attachment.msg"  # one 30-byte text attachment
    assert "fake" in " ".join(b.text for b in parse_file(msg, msg.name, LIMIT).blocks).lower()
    with pytest.raises(UnsafeDocument, match="attachments exceed"):
        parse_file(msg, msg.name, 20)


def patched_msg(folder: Path, name: str, streams: dict[str, bytes | str]) -> Path:
    """A copy of the corpus .msg with some of its streams overwritten (same sizes: olefile
    rewrites streams in place); text pads with spaces, as UTF-16 where the stream is text."""
    import olefile

    path = folder / name
    shutil.copyfile(CORPUS / "fake-email-attachment.msg", path)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        for stream, value in streams.items():
            size = ole.get_size(stream)
            if isinstance(value, str):
                data = (value + " " * (size // 2 - len(value))).encode("utf-16-le")
            else:
                data = value.ljust(size, b"\n")
            ole.write_stream(stream, data[:size])
    return path


ARMOUR = "-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA8n0dGZ2b8Zl\r\n=Xb3z\r\n-----END PGP MESSAGE-----"
ATTACHMENT = "__attach_version1.0_#00000000/__substg1.0_"


def test_an_encrypted_outlook_msg_says_encrypted(tmp_path: Path) -> None:
    inline = patched_msg(
        tmp_path,
        "inline.msg",
        {  # the body is the ciphertext
            "__substg1.0_1000001F": ARMOUR,
            "__substg1.0_10130102": ARMOUR.encode().ljust(476),
        },
    )
    pgp_mime = patched_msg(tmp_path, "pgp-mime.msg", {  # an empty body and the sealed part
        "__substg1.0_1000001F": "", "__substg1.0_10130102": b" " * 476,
        f"{ATTACHMENT}37010102": b"-----BEGIN PGP MESSAGE-----\r\n",
        f"{ATTACHMENT}3707001F": "encrypted-email.asc"})  # fmt: skip
    for msg in (inline, pgp_mime):
        with pytest.raises(EncryptedDocument, match="encrypted e-mail"):
            parse_file(msg, msg.name, LIMIT)
    # a readable message that carries a PGP block as an attachment is read
    readable = patched_msg(
        tmp_path, "readable.msg", {f"{ATTACHMENT}37010102": b"-----BEGIN PGP MESSAGE-----\r\n"}
    )
    assert "Mallori" in " ".join(b.text for b in parse_file(readable, readable.name, LIMIT).blocks)


def test_text_holds_no_nul_characters_which_postgres_refuses() -> None:
    pdf = CORPUS / "copy-protected.pdf"  # its text layer carries NUL characters
    blocks = parse_file(pdf, pdf.name, LIMIT).blocks
    assert blocks and not any("\x00" in b.text or "\x00" in (b.section or "") for b in blocks)


@pytest.mark.parametrize(
    ("name", "text", "encoding", "words"),
    [
        ("staff.csv", "名前,部署,内線\n山田太郎,営業部,1234\n佐藤花子,経理部,5678\n", "shift_jis",
         ["山田太郎", "経理部"]),
        ("people.csv", "name,city,role\nJürgen Müller,Köln,Geschäftsführer\nSøren Ørsted,Århus,"
         "Sekretær\nFrançois Légère,Besançon,Ingénieur\n", "cp1252", ["Müller", "Besançon"]),
        ("memo.txt", "会議は毎週月曜日の午前十時に始まります。場所は第三会議室です。", "shift_jis",
         ["第三会議室"]),
    ],
)  # fmt: skip
def test_text_in_a_legacy_encoding_is_read_as_its_author_wrote_it(
    tmp_path: Path, name: str, text: str, encoding: str, words: list[str]
) -> None:
    path = tmp_path / "upload"
    path.write_bytes(text.encode(encoding))
    read = " ".join(b.text for b in parse_file(path, name, LIMIT).blocks)
    assert all(word in read for word in words), read


def test_a_strict_docx_is_converted_from_a_relative_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` keeps its files in the relative data/files: LibreOffice's profile must still
    be a valid file URI (Path.as_uri() refuses a relative path with ValueError)."""
    assert shutil.which("soffice"), "needs LibreOffice: apt-get install libreoffice-writer-nogui"
    usual = CORPUS / "docx-tables.docx"
    (tmp_path / "data" / "files").mkdir(parents=True)
    strict_copy(usual, tmp_path / "data" / "files" / "stored")
    monkeypatch.chdir(tmp_path)
    read = parse_file(Path("data/files/stored"), "report.docx", LIMIT)
    assert [b.text for b in read.blocks] == [
        b.text for b in parse_file(usual, "x.docx", LIMIT).blocks
    ]


def test_a_pdf_whose_page_tree_nests_too_deep_is_refused_with_a_reason(tmp_path: Path) -> None:
    deep = tmp_path / "deep"
    deep.write_bytes(deep_tree_pdf(120, ["The depot opens at six."]))
    with pytest.raises(UnsafeDocument, match=r"passes a safety limit .*save it again as PDF"):
        parse_file(deep, "rota.pdf", LIMIT)
    shallow = tmp_path / "shallow"  # the same tree, within the limit: read
    shallow.write_bytes(deep_tree_pdf(20, ["The depot opens at six."]))
    parsed = parse_file(shallow, "rota.pdf", LIMIT)
    assert parsed.pages == 1 and "depot opens at six" in parsed.blocks[0].text
    plain = tmp_path / "plain"
    plain.write_bytes(text_pdf([["The depot opens at six."]]))
    assert parse_file(plain, "rota.pdf", LIMIT).pages == 1


def test_a_strict_open_xml_docx_is_read_through_libreoffice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usual = CORPUS / "docx-tables.docx"
    strict = strict_copy(usual, tmp_path / "strict")
    expected = [b.text for b in parse_file(usual, usual.name, LIMIT).blocks]
    if shutil.which("soffice"):
        assert [b.text for b in parse_file(strict, "report.docx", LIMIT).blocks] == expected
    monkeypatch.setenv("PATH", "/nonexistent")  # a machine without LibreOffice
    with pytest.raises(UnsupportedDocument, match="Strict Open XML; reading it needs LibreOffice"):
        parse_file(strict, "report.docx", LIMIT)

"""Small PDFs written at test time: text pages of Helvetica lines, pages of lines placed and
styled one by one, and a hostile page tree."""

from __future__ import annotations


def text_pdf(pages: list[list[str]]) -> bytes:
    """A valid PDF whose page i shows pages[i], one line each (ASCII text)."""
    streams = []
    for lines in pages:
        shown = " T* ".join(f"({escape(line)}) Tj" for line in lines)
        streams.append(f"BT /F1 12 Tf 16 TL 72 720 Td {shown} ET".encode("latin-1"))
    return pages_pdf(streams, [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"])


def styled_pdf(pages: list[list[tuple[str, float, bool, float]]]) -> bytes:
    """A valid PDF whose page i shows the lines of pages[i], each (text, font size, bold, y):
    Helvetica or Helvetica-Bold at x 72, its baseline y points above the page's bottom (text
    in Windows-1252, the bullet "\x95")."""
    streams = [
        "\n".join(f"BT /F{2 if bold else 1} {size} Tf 72 {y} Td ({escape(text)}) Tj ET"
                  for text, size, bold, y in lines).encode("latin-1")
        for lines in pages
    ]  # fmt: skip
    fonts = [b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>" % name
             for name in (b"Helvetica", b"Helvetica-Bold")]  # fmt: skip
    return pages_pdf(streams, fonts)


def escape(text: str) -> str:
    """Text as a PDF string's body."""
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pages_pdf(streams: list[bytes], fonts: list[bytes]) -> bytes:
    """A PDF of one page per content stream, letter size, each with the fonts as /F1, /F2 …"""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]  # 2: filled below
    kids = []
    first_font = 3 + 2 * len(streams)
    named = " ".join(f"/F{i + 1} {first_font + i} 0 R" for i in range(len(fonts)))
    for stream in streams:
        kids.append(len(objects) + 1)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects) + 2}"
            f" 0 R /Resources << /Font << {named} >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects[1] = (
        f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    ).encode()
    return assemble(objects + fonts)


def deep_tree_pdf(depth: int, lines: list[str]) -> bytes:
    """A PDF whose one page sits under `depth` nested /Pages nodes (pypdf refuses more than
    100 levels); each node is valid, so only a limit on nesting stops a reader."""
    escaped = " T* ".join(f"({line}) Tj" for line in lines)
    stream = f"BT /F1 12 Tf 16 TL 72 720 Td {escaped} ET".encode("latin-1")
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    first, page = 2, 2 + depth
    for n in range(first, page):  # node n holds node n + 1, the last one the page
        parent = f"/Parent {n - 1} 0 R " if n > first else ""
        objects.append(f"<< /Type /Pages {parent}/Kids [{n + 1} 0 R] /Count 1 >>".encode())
    objects.append(
        f"<< /Type /Page /Parent {page - 1} 0 R /MediaBox [0 0 612 792] /Contents {page + 1} 0 R"
        f" /Resources << /Font << /F1 {page + 2} 0 R >> >> >>".encode()
    )
    objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return assemble(objects)


def assemble(objects: list[bytes]) -> bytes:
    """A PDF file of these objects (numbered from 1, the first the catalog) with its xref."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % at for at in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)

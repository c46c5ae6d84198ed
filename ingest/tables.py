"""Tables as text that keeps rows: each row on its own line, its cells labelled by the header.

unstructured gives a table's text as its cells run together ("Grade Notice N1 to N3 48 hours
N4 1 month"), which loses which value belongs to which row and column. From the table's HTML,
each body row becomes one line, "Grade: N1 to N3; Notice: 48 hours", a unit that can be quoted
and read alone.
"""

from __future__ import annotations

from lxml import html as lxml_html

MAX_HEADER_CHARS = 300  # a longer "header" row is data, not labels


def rows(table_html: str) -> list[list[str]]:
    """The table's rows, each a list of its cells' text (whitespace collapsed)."""
    try:
        tree = lxml_html.fromstring(table_html)
    except (ValueError, lxml_html.etree.ParserError):
        return []
    found = []
    for tr in tree.iter("tr"):
        cells = [" ".join(cell.text_content().split()) for cell in tr if cell.tag in ("td", "th")]
        if any(cells):
            found.append(cells)
    return found


def table_text(table_html: str, fallback: str) -> str:
    """One line per row, cells labelled by the first row when it looks like a header; the
    element's own text when the HTML has no rows."""
    found = rows(table_html)
    if len(found) < 2:
        return fallback
    header, body = found[0], found[1:]
    labelled = sum(map(len, header)) <= MAX_HEADER_CHARS and all(header)
    lines = [" | ".join(c for c in header if c)] if not labelled else []
    for row in body:
        if labelled and len(row) == len(header):
            cells = [f"{h}: {c}" for h, c in zip(header, row, strict=True) if c]
            lines.append("; ".join(cells))
        else:
            lines.append(" | ".join(c for c in row if c))
    return "\n".join(line for line in lines if line)

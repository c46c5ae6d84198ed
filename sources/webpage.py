"""A web page's main text as a small clean HTML document, and the links it holds."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag

from sources.webhttp import canonical

CHROME_TAGS = ["script", "style", "noscript", "template", "form", "nav", "header", "footer"]
CHROME_TAGS += ["aside", "iframe", "svg", "button", "select", "textarea"]
CHROME_MARK = re.compile(
    r"(?:^|[\s_-])(menu|nav|navbar|navigation|footer|sidebar|cookies?|breadcrumbs?)(?:$|[\s_-])",
    re.IGNORECASE,
)
KEPT_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "dl", "dt", "dd", "br"}
KEPT_TAGS |= {"table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "pre", "blockquote"}


def links_of(soup: BeautifulSoup, url: str) -> list[str]:
    """The canonical URLs of the page's <a href> links, in order, without duplicates."""
    base = soup.find("base", href=True)
    base_url = urljoin(url, str(base["href"])) if isinstance(base, Tag) else url
    found: dict[str, None] = {}
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        if not href or href.lower().startswith(("mailto:", "javascript:", "tel:", "data:")):
            continue
        try:
            found[canonical(urljoin(base_url, href))] = None
        except ValueError:
            continue
    return list(found)


def title_of(soup: BeautifulSoup, url: str) -> str:
    """The page's <title>, else its first <h1>, else its URL."""
    for tag in (soup.title, soup.find("h1")):
        if isinstance(tag, Tag) and (text := " ".join(tag.get_text(" ").split())):
            return text
    return url


def main_of(soup: BeautifulSoup) -> Tag:
    """The page's main part (<main>, <article>, [role=main], else <body>) without menus,
    headers, footers, sidebars, scripts, forms and cookie banners."""
    root = soup.select_one("main, article, [role=main]") or soup.body or soup
    for tag in root.find_all(CHROME_TAGS):
        tag.decompose()
    for tag in root.find_all(True):
        if tag.decomposed:
            continue
        classes = tag.get("class")
        marks = [str(tag.get("id") or ""), *(classes if isinstance(classes, list) else [])]
        if CHROME_MARK.search(" ".join(marks)):
            tag.decompose()
    return root


def document(title: str, main: Tag) -> str:
    """A small clean HTML document: <h1>title</h1>, then the headings, paragraphs, lists and
    tables of main, without attributes; other tags give up their text."""
    for tag in main.find_all(True):
        if tag.name in KEPT_TAGS:
            tag.attrs = {}
        else:
            tag.unwrap()
    body = re.sub(r"\n\s*\n+", "\n", main.decode_contents()).strip()
    name = html.escape(title)
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{name}</title></head>\n'
        f"<body>\n<h1>{name}</h1>\n{body}\n</body></html>\n"
    )


def html_content(soup: BeautifulSoup, url: str) -> bytes | None:
    """The clean document of a parsed page; None when its main part has no text."""
    title = title_of(soup, url)
    main = main_of(soup)
    if not main.get_text(strip=True):
        return None
    return document(title, main).encode()

"""The ``/runbooks`` page: the shipped ``runbooks.md`` as an HTML page a browser shows, or as the markdown
itself for a client whose ``Accept`` header prefers ``text/markdown``.

Every heading gets the ``id`` a browser jumps to for an alert's ``runbook_url ...#anchor``: the heading's
text lower-cased, spaces as hyphens, punctuation dropped (GitHub's rule, so the same links work on the
repository's rendering of ``docs/runbooks.md``). ``### worker-down`` is ``id="worker-down"``.
"""

from __future__ import annotations

import functools
import html
import re

from markdown_it import MarkdownIt

from pipeline import resources

MARKDOWN = "text/markdown; charset=utf-8"
HTML = "text/html; charset=utf-8"

STYLE = """
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 0 auto;
       max-width: 52rem; padding: 1rem 1.5rem 4rem; }
h1 { border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2.5rem; }
h3 { margin-top: 2rem; }
:target { background: #fff8c5; outline: .4rem solid #fff8c5; }
code { background: #f6f8fa; border-radius: 4px; font-size: 90%; padding: .1rem .3rem; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: .3rem .7rem; text-align: left; }
"""


def render(accept: str) -> tuple[str, bytes]:
    """``(content type, body)`` of the runbooks for a request with this ``Accept`` header."""
    if prefers_markdown(accept):
        return MARKDOWN, _markdown()
    return HTML, _html()


def prefers_markdown(accept: str) -> bool:
    """True when ``accept`` rates ``text/markdown`` above ``text/html`` (``*/*``, no header: HTML)."""
    quality = {"markdown": 0.0, "html": 0.0}
    specific = {"markdown": 0, "html": 0}  # 2 = named exactly, 1 = text/*, 0 = */* (the most specific wins)
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        for kind in quality:
            rank = {f"text/{kind}": 2, "text/*": 1, "*/*": 0}.get(media)
            if rank is not None and rank >= specific[kind]:
                quality[kind], specific[kind] = q, rank
    return quality["markdown"] > quality["html"]


@functools.cache
def _markdown() -> bytes:
    return resources.read_bytes(resources.RUNBOOKS)


@functools.cache
def _html() -> bytes:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(_markdown().decode("utf-8"))
    seen: dict[str, int] = {}
    title = ""
    for opening, inline in zip(tokens, tokens[1:], strict=False):
        if opening.type != "heading_open":
            continue
        text = "".join(child.content for child in inline.children or [])
        if opening.tag == "h1" and not title:
            title = text
        opening.attrSet("id", anchor(text, seen))
    body = md.renderer.render(tokens, md.options, {})
    page = (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<link rel="icon" href="data:,">\n'  # no favicon request: the worker has none to serve
            f"<title>sla-pipeline: {html.escape(title or 'runbooks')}</title>\n<style>{STYLE}</style>\n</head>\n"
            f"<body>\n{body}</body>\n</html>\n")
    return page.encode("utf-8")


def anchor(text: str, seen: dict[str, int] | None = None) -> str:
    """The id of a heading: ``Pipeline alerts`` -> ``pipeline-alerts``; a repeated one gets ``-1``, ``-2``."""
    slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    if seen is None:
        return slug
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"

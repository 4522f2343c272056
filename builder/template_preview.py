"""What the editor shows of a Close template: a safe body preview and the merge fields it uses.

Template bodies come from Close, where anyone in the organization can paste HTML from anywhere
(the sandbox seeds one with a <script> on purpose), so a body is never rendered as it is: nh3
keeps formatting and links and drops everything active.
"""

import re
from dataclasses import dataclass

import nh3

# Formatting only: no images (they would load from third-party hosts, often tracking pixels, and
# the CSP blocks them anyway) and no interactive elements that would nest inside the editor's own.
_PREVIEW_TAGS = nh3.ALLOWED_TAGS - {"img", "map", "area", "details", "summary"}
_URL_SCHEMES = {"http", "https", "mailto", "tel"}
# Close's merge fields: {{ contact.first_name }}, {{ lead.display_name | default:"there" }}.
_MERGE_FIELD = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*(?:\|[^{}]*)?\}\}")
_IMAGE = re.compile(r"<img\b", re.IGNORECASE)


@dataclass(frozen=True)
class Preview:
    subject: str
    body_html: str  # sanitised: safe to mark as safe in a template
    merge_fields: list[str]  # "contact.first_name", in order of first use
    images_hidden: int


def preview(*, subject, body, is_html=True):
    """The preview of one template; SMS bodies are plain text and stay text."""
    body = body or ""
    if is_html:
        body_html = nh3.clean(body, tags=_PREVIEW_TAGS, url_schemes=_URL_SCHEMES)
        images_hidden = len(_IMAGE.findall(body))
    else:
        body_html = nh3.clean_text(body)
        images_hidden = 0
    return Preview(
        subject=subject or "",
        body_html=body_html,
        merge_fields=merge_fields(subject or "", body),
        images_hidden=images_hidden,
    )


def merge_fields(*texts):
    """The merge fields used in `texts`, each once, in order of first use."""
    seen = {}
    for text in texts:
        for match in _MERGE_FIELD.finditer(text or ""):
            seen.setdefault(match.group(1), None)
    return list(seen)

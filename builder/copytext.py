"""The copy of a step (an email's subject and body, an SMS's text): its merge fields, its HTML
and its SMS length, in one place.

Pure Python like spec.py (nh3 is a plain library): spec's checks, the editor, the review diff,
publishing and the audience check all read these rules, so what the editor offers, what review
compares, what is stored and what is sent are the same thing.

Merge fields follow Close's Django-style tags (../shared/close-api.md §7):
`{{ contact.first_name }}`, with the one filter Close is known to accept,
`{{ contact.first_name | default:"there" }}`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser

import nh3

# --- Merge fields ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeField:
    tag: str  # "contact.first_name"
    label: str  # "Contact first name": the Insert merge field menu
    # Whether ../shared/close-api.md §7 marks it as seen working in Close ([D]/[O]) rather than
    # only inferred from third-party sources.
    confirmed: bool
    # Whether an empty value reads badly ("Hi ,"): such a tag without a fallback is a warning.
    needs_fallback: bool
    example: str  # what it reads as for an example contact (menu hint, previews)


# The tags close-api.md §7 lists, in the menu's order. Anything else is an unknown tag, which
# blocks publishing: Close prints unknown variables as "" and nobody would notice before a lead.
MERGE_FIELDS: tuple[MergeField, ...] = (
    MergeField("contact.first_name", "Contact first name", True, True, "Ada"),
    MergeField("contact.last_name", "Contact last name", False, True, "Lovelace"),
    MergeField("contact.name", "Contact full name", False, True, "Ada Lovelace"),
    MergeField("contact.email", "Contact email", False, False, "ada@example.com"),
    MergeField("contact.phones.0.phone", "Contact phone", False, False, "+1 415 555 0100"),
    MergeField("lead.display_name", "Company (lead) name", True, False, "Analytical Engines"),
    MergeField("lead.url", "Company website", False, False, "https://example.com"),
    MergeField("user.first_name", "Your first name", False, False, "Charles"),
    MergeField("user.email", "Your email", False, False, "charles@example.com"),
    MergeField("organization.name", "Your organization", False, False, "Babbage & Co"),
)
MERGE_FIELDS_BY_TAG = {field.tag: field for field in MERGE_FIELDS}
# Lead custom fields by name (close-api.md §7: the only form any source writes; unconfirmed).
CUSTOM_FIELD_PREFIX = "lead.custom."
_CUSTOM_NAME = re.compile(r"[A-Za-z0-9_]+")

# One tag, as Close's engine reads it: a dotted path and at most one `default` filter.
_TAG = re.compile(
    r"""\{\{\s*(?P<path>[A-Za-z_][\w]*(?:\.\w+)*)\s*"""
    r"""(?:\|\s*(?P<filter>\w+)\s*(?::\s*(?P<arg>"[^"]*"|'[^']*'))?\s*)?\}\}"""
)
_OPEN_OR_CLOSE = re.compile(r"\{\{|\}\}|\{%|%\}")


@dataclass(frozen=True)
class TagUse:
    """One `{{ … }}` in a text, as written."""

    start: int
    end: int
    source: str  # the whole "{{ … }}"
    path: str  # "contact.first_name"; "" when the tag cannot be read
    fallback: str | None  # the default filter's text, or None without one
    problem: str = ""  # why it cannot be used, "" when it can

    @property
    def known(self) -> MergeField | None:
        return known_field(self.path)


def known_field(path: str) -> MergeField | None:
    """The merge field for `path` (a lead custom field by name included), or None."""
    if path in MERGE_FIELDS_BY_TAG:
        return MERGE_FIELDS_BY_TAG[path]
    name = path.removeprefix(CUSTOM_FIELD_PREFIX)
    if path.startswith(CUSTOM_FIELD_PREFIX) and _CUSTOM_NAME.fullmatch(name):
        return MergeField(path, f"Custom field “{name}”", False, True, "")
    return None


def tags_in(text: str | None) -> list[TagUse]:
    """Every merge tag in `text` (plain text or a stored HTML body), in order, with what is
    wrong with each: unbalanced braces, an unreadable tag, an unknown field or filter."""
    text = text or ""
    uses: list[TagUse] = []
    position = 0
    while True:
        marker = _OPEN_OR_CLOSE.search(text, position)
        if marker is None:
            return uses
        start = marker.start()
        if marker.group() in ("}}", "%}"):
            uses.append(_broken(text, start, marker.end(), "a closing “}}” without its “{{”"))
            position = marker.end()
            continue
        if marker.group() == "{%":
            end = text.find("%}", start)
            end = len(text) if end < 0 else end + 2
            uses.append(_broken(text, start, end, "“{% … %}” template logic is not supported"))
            position = end
            continue
        close = text.find("}}", start + 2)
        reopen = text.find("{{", start + 2)
        if close < 0 or (0 <= reopen < close):
            end = reopen if reopen >= 0 else len(text)
            uses.append(_broken(text, start, end, "a “{{” without its closing “}}”"))
            position = end
            continue
        end = close + 2
        uses.append(_read_tag(text, start, end))
        position = end


def _broken(text: str, start: int, end: int, problem: str) -> TagUse:
    return TagUse(start, end, text[start:end], "", None, problem)


def _read_tag(text: str, start: int, end: int) -> TagUse:
    source = text[start:end]
    # A stored body is HTML: the tag's quotes may arrive as entities, and formatting inside a
    # tag ("{{ <strong>contact</strong>.first_name }}") makes it unreadable for Close.
    if "<" in source:
        return _broken(text, start, end, "formatting or a link inside a merge field")
    match = _TAG.fullmatch(html.unescape(source))
    if match is None:
        return _broken(text, start, end, "a merge field that cannot be read")
    path, filter_name, argument = match.group("path", "filter", "arg")
    fallback = argument[1:-1] if argument else None
    if filter_name and (filter_name != "default" or argument is None):
        problem = f'the filter “{filter_name}”: only default:"…" is supported'
        return TagUse(start, end, source, path, fallback, problem)
    if known_field(path) is None:
        return TagUse(start, end, source, path, fallback, f"the unknown merge field “{path}”")
    return TagUse(start, end, source, path, fallback)


@dataclass(frozen=True)
class CopyProblem:
    code: str
    blocking: bool
    message: str  # a sentence fragment after "Step 2's subject has …"


def tag_problems(text: str | None) -> list[CopyProblem]:
    """What spec reports about the tags of one text: unreadable or unknown tags block; a
    name-like field without a fallback is a warning."""
    problems = []
    for use in tags_in(text):
        if use.problem:
            code = "merge_tag_unknown" if use.path else "merge_tag_unbalanced"
            problems.append(CopyProblem(code, True, use.problem))
        elif use.known.needs_fallback and not use.fallback:
            problems.append(
                CopyProblem(
                    "merge_tag_no_fallback",
                    False,
                    f"“{use.path}” without a fallback: contacts without one read "
                    f"“{example_without(use)}”. Add one, such as "
                    f'{{{{ {use.path} | default:"there" }}}}',
                )
            )
    return problems


def example_without(use: TagUse) -> str:
    return "Hi ," if use.path.endswith("first_name") else "… , …"


def used_fields(*texts: str | None) -> list[str]:
    """The known merge fields `texts` use, each once, in order of first use."""
    seen: dict[str, None] = {}
    for text in texts:
        for use in tags_in(text):
            if use.path and not use.problem:
                seen.setdefault(use.path, None)
    return list(seen)


# --- Rendering (the audience check's local renderer) --------------------------------------------


@dataclass(frozen=True)
class RenderedPart:
    text: str
    tag: str = ""  # the merge field this part came from; "" for the copy's own words
    empty: bool = False  # the field was empty for this contact (and no fallback filled it)


def render_parts(
    text: str | None, value_of: Callable[[str], str | None], *, escape: bool = False
) -> list[RenderedPart]:
    """`text` with each tag replaced by `value_of(path)`, or its fallback when that is empty,
    as Close's Django-style engine does; unreadable tags are left as written. `escape` HTML-
    escapes the values (for an HTML body, as Django's autoescape does)."""
    text = text or ""
    parts: list[RenderedPart] = []
    position = 0
    for use in tags_in(text):
        if use.start > position:
            parts.append(RenderedPart(text[position : use.start]))
        position = use.end
        if use.problem:
            parts.append(RenderedPart(use.source))
            continue
        value = value_of(use.path) or ""
        if escape:
            value = html.escape(value, quote=True)
        if not value and use.fallback is not None:
            # Django prints a filter's "…" as written, unescaped: in a stored body that is the
            # text with &, < and > escaped (clean_body) and quotes as they are.
            value = html.escape(use.fallback, quote=False) if escape else use.fallback
        parts.append(RenderedPart(value, tag=use.path, empty=not value))
    if position < len(text):
        parts.append(RenderedPart(text[position:]))
    return parts


def render(text: str | None, values: Mapping[str, str | None], *, escape: bool = False) -> str:
    return "".join(part.text for part in render_parts(text, values.get, escape=escape))


# --- The HTML of an email body -------------------------------------------------------------------

# Exactly what the body editor (Trix, limited to bold, italic, links and lists) produces: a body is
# stored, previewed and sent as this subset, whatever was pasted, imported or posted.
BODY_TAGS = frozenset({"div", "br", "strong", "em", "a", "ul", "ol", "li"})
BODY_ATTRIBUTES = {"a": {"href"}}
BODY_URL_SCHEMES = frozenset({"http", "https", "mailto"})
BODY_LINK_REL = "noopener noreferrer"
# What other editors (Close's own, Word, Google Docs) write for the same formatting.
_SYNONYMS = {"b": "strong", "i": "em", "p": "div", "h1": "div", "h2": "div", "h3": "div"}
_SYNONYM_TAG = re.compile(r"<(/?)(b|i|p|h[1-3])(?=[\s/>])", re.IGNORECASE)
MAX_BODY_LENGTH = 100_000


def clean_body(body: str | None) -> str:
    """The body as the stored subset: nh3 with only the editor's tags, links only http(s) and
    mailto with `rel` set. Idempotent: cleaning a clean body changes nothing."""
    body = _SYNONYM_TAG.sub(lambda m: f"<{m.group(1)}{_SYNONYMS[m.group(2).lower()]}", body or "")
    cleaned = nh3.clean(
        body,
        tags=set(BODY_TAGS),
        attributes={tag: set(names) for tag, names in BODY_ATTRIBUTES.items()},
        url_schemes=set(BODY_URL_SCHEMES),
        link_rel=BODY_LINK_REL,
        strip_comments=True,
    )
    return cleaned.strip()


class _TextReader(HTMLParser):
    """A body's words as text, with a line per block and list item, and its links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.links: list[tuple[str, str]] = []
        self._link: list | None = None
        self._lists: list[list] = []  # per open list: [ordered, next number]

    def _break(self):
        if self.lines[-1].strip():
            self.lines.append("")

    def handle_starttag(self, tag, attrs):
        if tag in ("div", "p", "br"):
            self._break()
        elif tag in ("ul", "ol"):
            self._break()
            self._lists.append([tag == "ol", 1])
        elif tag == "li":
            self._break()
            if self._lists and self._lists[-1][0]:
                self.lines[-1] += f"{self._lists[-1][1]}. "
                self._lists[-1][1] += 1
            else:
                self.lines[-1] += "• "
        elif tag == "a":
            self._link = [dict(attrs).get("href") or "", ""]

    def handle_endtag(self, tag):
        if tag in ("div", "p", "li"):
            self._break()
        elif tag in ("ul", "ol"):
            self._break()
            if self._lists:
                self._lists.pop()
        elif tag == "a" and self._link is not None:
            self.links.append((self._link[1], self._link[0]))
            self._link = None

    def handle_data(self, data):
        self.lines[-1] += data
        if self._link is not None:
            self._link[1] += data


def body_text(body: str | None) -> str:
    """The words of an HTML body, one line per block or list item (diffs, SMS-like previews)."""
    reader = _TextReader()
    reader.feed(body or "")
    reader.close()
    return "\n".join(line.rstrip() for line in reader.lines if line.strip())


def body_links(body: str | None) -> list[tuple[str, str]]:
    """(link text, address) for each link of a body, in order."""
    reader = _TextReader()
    reader.feed(body or "")
    reader.close()
    return reader.links


def is_blank_body(body: str | None) -> bool:
    return not body_text(body).strip()


# --- SMS length ----------------------------------------------------------------------------------

# GSM 03.38: the basic set counts one, the extension set two (an escape, then the character).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
MAX_SMS_LENGTH = 1000  # Close's UI caps an SMS at 1000 characters (close-api.md §7)


@dataclass(frozen=True)
class SmsLength:
    characters: int  # as people count them
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # what one segment holds in this message's encoding

    def sentence(self) -> str:
        """ "42 characters · 1 SMS segment (GSM-7)" """
        plural = "" if self.segments == 1 else "s"
        chars = "" if self.characters == 1 else "s"
        return (
            f"{self.characters} character{chars} · {self.segments} SMS segment{plural} "
            f"({self.encoding})"
        )


def sms_length(text: str | None) -> SmsLength:
    """How an SMS of `text` is sent: GSM-7 when every character is in the GSM alphabet (160 in
    one segment, 153 per part when split), else UCS-2 (70, then 67 per part)."""
    text = text or ""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        units = sum(2 if char in GSM7_EXTENSION else 1 for char in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 0 if units == 0 else 1 if units <= single else -(-units // multi)
    return SmsLength(
        characters=len(text),
        encoding=encoding,
        units=units,
        segments=segments,
        per_segment=single if segments <= 1 else multi,
    )


def words(text: str) -> Iterator[str]:
    """Words and the spaces between them, for word-by-word diffs."""
    yield from re.findall(r"\s+|[^\s]+", text)


# --- Close's JSON as merge-field values (the audience check) -------------------------------------

# A name's first whitespace-separated word, and the rest (close-api.md §14: Close's contacts have
# only `name`, and Close derives contact.first_name itself by an undocumented rule, §13 q18).
_NAME_SPLIT = re.compile(r"\s*(\S*)\s*(.*?)\s*\Z", re.DOTALL)


def usable_email(contact: Mapping) -> str:
    """The contact's first email address that is not unsubscribed (§14), or ""."""
    for item in contact.get("emails") or []:
        if isinstance(item, Mapping) and item.get("email") and not item.get("is_unsubscribed"):
            return str(item["email"])
    return ""


def contact_values(
    contact: dict, lead: dict, user: dict | None, organization: dict | None
) -> dict[str, str]:
    """Merge-field values for one recipient from Close's JSON: a contact and its lead as the API
    returns them (the lead with its name-keyed `custom`), the API key's user (/me/) and its
    organization. Keys are tag paths ("contact.first_name", "lead.custom.Industry"); a value
    Close does not have is "".

    The one place the app derives a first name: the first whitespace-separated word of `name`,
    the last name the rest (stripped, inner spacing kept); an empty or whitespace-only name has
    neither. The sandbox renders with Django by the same rule, written separately, and
    tests/builder/test_render_agreement.py holds the two to the same output."""
    name = str(contact.get("name") or "")
    first_name, last_name = _NAME_SPLIT.match(name).groups()
    phones = contact.get("phones") or []
    first_phone = phones[0] if phones and isinstance(phones[0], Mapping) else {}
    user, organization = user or {}, organization or {}
    values = {
        "contact.first_name": first_name,
        "contact.last_name": last_name,
        "contact.name": name,
        "contact.email": usable_email(contact),
        "contact.phones.0.phone": _text(first_phone.get("phone")),
        "lead.display_name": _text(lead.get("display_name")),
        "lead.url": _text(lead.get("url")),
        "user.first_name": _text(user.get("first_name")),
        "user.email": _text(user.get("email")),
        "organization.name": _text(organization.get("name")),
    }
    custom = lead.get("custom")
    for field_name, value in custom.items() if isinstance(custom, Mapping) else ():
        values[CUSTOM_FIELD_PREFIX + str(field_name)] = _text(value)
    return values


def _text(value) -> str:
    """A JSON value as a tag prints it: nothing for null, items joined for a multi-value field
    (how Close prints one is unconfirmed, §13 q21)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    return str(value)

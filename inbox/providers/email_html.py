"""E-mail bodies made safe and short: HTML sanitising, HTML to text, quote folding.

Customer HTML is never trusted (DESIGN rule 9). `sanitize_email_html` keeps an explicit
allow-list of tags and attributes: no scripts, styles or event handlers, no remote
images (a remote image is a tracking pixel and a request from the agent's browser), and
every link opens without an opener or a referrer. `fold_quoted_text` splits a reply into
what the customer wrote now and the history their mail client quoted below it, so the
thread shows the new text while the original stays stored.
"""

import re
from html.parser import HTMLParser

import nh3

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "dd",
        "div",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    }
)

ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
}

# Dropped together with everything inside them, not just unwrapped.
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "title", "noscript", "template", "iframe", "object", "embed"}
)

# `cid:` points at a part of the same mail (an inline image); nothing else is fetched.
URL_SCHEMES = frozenset({"http", "https", "mailto", "cid"})
LINK_REL = "noopener noreferrer nofollow"

_IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)


def _keep_attribute(tag, attribute, value):
    if tag == "img" and attribute == "src" and not value.lower().startswith("cid:"):
        return None
    if tag == "a" and attribute == "href" and value.lower().startswith("cid:"):
        return None
    return value


def sanitize_email_html(html):
    """The HTML of an e-mail reduced to the allow-list, safe to show inside our pages."""
    if not html:
        return ""
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_keep_attribute,
        url_schemes=set(URL_SCHEMES),
        url_relative="deny",
        link_rel=LINK_REL,
        strip_comments=True,
    )
    # nh3 can drop an attribute but not the element carrying it: an image whose remote
    # source was removed is dropped here. nh3's output quotes every attribute and escapes
    # ">" inside values, so each tag is exactly one match.
    return _IMG_TAG.sub(lambda tag: tag.group(0) if 'src="cid:' in tag.group(0) else "", cleaned)


_BLOCK_TAGS = frozenset(
    {
        "blockquote",
        "caption",
        "dd",
        "div",
        "dl",
        "dt",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "table",
        "tr",
        "ul",
    }
)

# Followed by a blank line, as paragraphs are in a plain-text mail.
_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre"})


class _TextCollector(HTMLParser):
    """Plain text of sanitised HTML; blockquotes become "> " lines, as a mail client does."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines = []  # [quote depth, text]
        self.depth = 0
        self.in_pre = 0
        self.link = None

    def _break(self):
        """End the current line, unless it is still empty."""
        if self.lines and self.lines[-1][1].strip():
            self.lines.append([self.depth, ""])

    def _write(self, text):
        if not self.lines:
            self.lines.append([self.depth, ""])
        line = self.lines[-1]
        if line[0] != self.depth:
            if line[1].strip():
                line = [self.depth, ""]
                self.lines.append(line)
            else:
                line[0] = self.depth
        line[1] += text

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.lines.append([self.depth, ""])
        elif tag in _BLOCK_TAGS:
            self._break()
            if tag == "blockquote":
                self.depth += 1
            elif tag == "pre":
                self.in_pre += 1
            elif tag == "li":
                self._write("- ")
            elif tag == "hr":
                self._write("---")
                self._break()
        elif tag in ("td", "th"):
            line = self.lines[-1][1] if self.lines else ""
            if line.strip():
                self._write("\t")
        elif tag == "a":
            self.link = [dict(attrs).get("href") or "", ""]

    def handle_endtag(self, tag):
        if tag in _BLOCK_TAGS:
            self._break()
            if tag in _PARAGRAPH_TAGS:
                self.lines.append([self.depth, ""])
            if tag == "blockquote":
                self.depth = max(0, self.depth - 1)
            elif tag == "pre":
                self.in_pre = max(0, self.in_pre - 1)
        elif tag == "a" and self.link:
            href, text = self.link
            self.link = None
            if href.startswith(("http://", "https://")) and href != text.strip():
                self._write(f" <{href}>")

    def handle_data(self, data):
        if self.in_pre:
            first, *rest = data.split("\n")
            self._write(first)
            for part in rest:
                self.lines.append([self.depth, part])
            return
        text = re.sub(r"\s+", " ", data)
        current = self.lines[-1][1] if self.lines else ""
        if not current.strip():
            text = text.lstrip()
        if text:
            self._write(text)
            if self.link is not None:
                self.link[1] += text

    def text(self):
        rendered = []
        for depth, line in self.lines:
            line = line.rstrip()
            rendered.append(f"{'>' * depth} {line}" if depth and line else line)
        return re.sub(r"\n{3,}", "\n\n", "\n".join(rendered)).strip("\n")


def html_to_text(html):
    """Readable plain text of (already sanitised) HTML, for mails that have no text part."""
    if not html:
        return ""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return collector.text()


# "On Mon, 3 Jun 2024 at 10:02, Ana <ana@example.com> wrote:" and its siblings in the
# languages our customers' mail clients speak. Gmail wraps it over two or three lines.
_ATTRIBUTION_START = re.compile(r"^\s*(on|am|le|el|il|op|em|den)\s", re.IGNORECASE)
# German puts the name after the verb: "Am … schrieb Ana <ana@example.com>:".
_ATTRIBUTION_END = re.compile(
    r"((wrote|a écrit|escribió|ha scritto|schreef|escreveu|skrev)\s*|\bschrieb\b.*):\s*$",
    re.IGNORECASE,
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|mensaje original|"
    r"message d'origine|messaggio originale|oorspronkelijk bericht)\s*-{2,}\s*$",
    re.IGNORECASE,
)
# Outlook's header block: "From: …" and, a line or few below, "Sent: …".
_HEADER_FROM = re.compile(r"^\s*\*?(from|von|de|da|van)\s*:\*?\s", re.IGNORECASE)
_HEADER_SENT = re.compile(r"^\s*\*?(sent|gesendet|envoyé|enviado|inviato|verzonden)\s*:", re.I)
_SEPARATOR = re.compile(r"^\s*(_{10,}|-{10,})\s*$")


def _is_quoted(line):
    return line.lstrip().startswith(">")


def _attribution_start(lines, end):
    """Where the attribution ending on line `end` starts, or None if it is not one.

    The longest match wins, so a wrapped "On …" line is folded together with "wrote:".
    """
    for start in range(max(0, end - 2), end + 1):
        segment = lines[start : end + 1]
        if not all(line.strip() for line in segment):
            continue
        joined = " ".join(line.strip() for line in segment)
        if _ATTRIBUTION_END.search(joined) and (
            start == end or _ATTRIBUTION_START.match(lines[start])
        ):
            return start
    return None


def _outlook_header(lines):
    """The first line of an Outlook-style quoted header block, or None."""
    for index, line in enumerate(lines):
        if _ORIGINAL_MESSAGE.match(line):
            return index
        if _HEADER_FROM.match(line) and any(
            _HEADER_SENT.match(following) for following in lines[index + 1 : index + 5]
        ):
            if index and _SEPARATOR.match(lines[index - 1]):
                return index - 1
            return index
    return None


def _quoted_tail(lines):
    """The first line of the trailing run of ">" lines (with its attribution), or None."""
    start = None
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if _is_quoted(line):
            start = index
        elif line.strip():
            break
    if start is None:
        return None
    above = start - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    if above >= 0:
        attribution = _attribution_start(lines, above)
        if attribution is not None:
            return attribution
    return start


def fold_quoted_text(text):
    """Split a reply into (new text, quoted history).

    What counts as history: everything from an Outlook "-----Original Message-----" line
    or "From: … Sent: …" header block on, and the trailing run of ">"-quoted lines with
    the "On … wrote:" line above it. Quotes interleaved with answers (an inline reply)
    stay in the new text: only a quoted tail is history.
    """
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    points = [point for point in (_outlook_header(lines), _quoted_tail(lines)) if point is not None]
    if not points:
        return text.strip("\n").rstrip(), ""
    fold = min(points)
    new_text = "\n".join(lines[:fold]).strip("\n").rstrip()
    quoted = "\n".join(lines[fold:]).strip("\n").rstrip()
    return new_text, quoted

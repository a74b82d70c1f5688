"""The shared kit every surface is built on: the message value, escaping, and the few
blocks and elements each surface uses. Pure.

slack_sdk's block classes check Slack's limits when `to_dict()` runs, so a builder that
would produce an invalid payload fails in the tests rather than in a person's Slack.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.core.content import Library, Source

# https://docs.slack.dev/reference/block-kit/blocks: 50 blocks in a message, 100 in a view.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_CHARS = 3000
MAX_ECHO_CHARS = 80


@dataclass(frozen=True)
class Message:
    """What Slack receives: a fallback `text` for notifications and screen readers, and blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def render_message(text: str, blocks: Sequence[Block], *, markup: str = "") -> Message:
    """The message for `blocks`, with `text` as its plain fallback.

    Slack reads the fallback as markup too, so it is escaped here, once: a `<`, `>` or `&`
    in it shows as itself. `markup` goes in front unescaped, for a mention."""
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks is over Slack's limit of {MAX_MESSAGE_BLOCKS}")
    return Message(text=markup + escape(text), blocks=[block.to_dict() for block in blocks])


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def echo(typed: str) -> str:
    """What the person typed, shortened and made safe to show back inside `code`."""
    short = typed if len(typed) <= MAX_ECHO_CHARS else typed[: MAX_ECHO_CHARS - 1] + "…"
    return "`" + escape(short.replace("`", "'")).replace("\n", " ") + "`"


class Section(SectionBlock):
    """A section of one mrkdwn paragraph, cut to Slack's limit when built: the one limit such
    a section has. Its dict is written here rather than checked by slack_sdk on every render
    (that check was a fifth of a settings answer's CPU); tests hold it equal to slack_sdk's."""

    def __init__(self, markdown: str) -> None:
        self.markdown = markdown[:MAX_SECTION_CHARS]
        super().__init__(text=MarkdownTextObject(text=self.markdown))

    def to_dict(self) -> dict[str, Any]:
        if not self.markdown:  # slack_sdk leaves an empty text out
            return super().to_dict()
        return {"type": "section", "text": {"type": "mrkdwn", "text": self.markdown}}


class Context(ContextBlock):
    """A context line of one mrkdwn element: no limit it could break (one element of ten,
    and a mrkdwn element has no length limit), so its dict is written here, as `Section`'s."""

    def __init__(self, markdown: str) -> None:
        self.markdown = markdown
        super().__init__(elements=[MarkdownTextObject(text=markdown)])

    def to_dict(self) -> dict[str, Any]:
        if not self.markdown:
            return super().to_dict()
        return {"type": "context", "elements": [{"type": "mrkdwn", "text": self.markdown}]}


def section(markdown: str) -> SectionBlock:
    return Section(markdown)


def context(markdown: str) -> ContextBlock:
    return Context(markdown)


def credit(source: Source) -> str:
    link = f" <{source.url}|Read the article>" if source.url else ""
    return (
        f"Source: {source.publisher}, “{source.title}” ({source.published}), "
        f"with {source.expert}.{link}"
    )


def button(text: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=text), action_id=action_id, value=value, style=style
    )


@functools.lru_cache(maxsize=32)
def cached(builder: Callable[[Library], Message], library: Library) -> Message:
    """A library-wide message (help, list), rendered once per library."""
    return builder(library)


def build_notice(markdown: str, fallback: str | None = None) -> Message:
    """A one-paragraph answer, such as a confirmation or an apology. The fallback is the
    paragraph's own words unless a shorter one is given."""
    return render_message(
        fallback if fallback is not None else plain(markdown), [section(markdown)]
    )


def plain(markdown: str) -> str:
    """The words of one mrkdwn paragraph, for a fallback: emphasis marks dropped, Slack's
    three entities read back as characters (`render_message` escapes them once again)."""
    # Bold and code marks (`_` is in time zone names). Two replaces, not `str.translate`:
    # with an en dash in the line, translate looked up each character in Python (8 us a
    # line, against under 1; a settings answer has seven).
    words = markdown.replace("*", "").replace("`", "")
    if "&" not in words:  # most lines: no entity to read back
        return words
    return words.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def build_view(kind: str, blocks: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    if len(blocks) > MAX_VIEW_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks is over Slack's limit of {MAX_VIEW_BLOCKS}")
    return View(type=kind, blocks=list(blocks), **extra).to_dict()


def build_modal(message: Message) -> dict[str, Any]:
    """A message shown where there is no conversation to answer in, such as the App Home tab.
    Its buttons answer through a response URL, which a modal does not have: they are left out."""
    return build_view(
        "modal",
        [block for block in message.blocks if block.get("type") != "actions"],
        title=PlainTextObject(text="psoas-bot"),
        close=PlainTextObject(text="Close"),
    )

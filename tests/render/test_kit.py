"""The kit's own blocks write their dicts without slack_sdk's check on every render: they must
be exactly what slack_sdk would send, and a paragraph too long for Slack is still cut."""

from __future__ import annotations

import pytest
from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot.render.kit import MAX_SECTION_CHARS, context, section

TEXTS = ["", "a", "*Nudges:* on\nEvery 45 min & <less>", "x" * MAX_SECTION_CHARS]


@pytest.mark.parametrize("markdown", TEXTS)
def test_a_section_is_what_slack_sdk_sends(markdown: str) -> None:
    expected = SectionBlock(text=MarkdownTextObject(text=markdown)).to_dict()
    assert section(markdown).to_dict() == expected


@pytest.mark.parametrize("markdown", TEXTS)
def test_a_context_line_is_what_slack_sdk_sends(markdown: str) -> None:
    expected = ContextBlock(elements=[MarkdownTextObject(text=markdown)]).to_dict()
    assert context(markdown).to_dict() == expected


def test_a_paragraph_longer_than_slack_allows_is_cut_to_the_limit() -> None:
    block = section("y" * (MAX_SECTION_CHARS + 50)).to_dict()
    assert block["text"]["text"] == "y" * MAX_SECTION_CHARS
    SectionBlock(text=MarkdownTextObject(text=block["text"]["text"])).to_dict()  # Slack's limit

"""The stand-in Slack is as strict as Slack: each rule, with the reference page it follows,
refuses what Slack refuses and answers what Slack answers. Through slack_sdk's own clients,
as the bot reaches it."""

from __future__ import annotations

import json
import socket
import struct
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.sandbox.standin import METHODS, Call, manifest_bot_scopes, needed_scopes
from tests.support.slack import BOT_TOKEN
from tests.support.standin import SlackStandIn, error

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "manifest.yaml"
START = 1_800_000_000.0  # a fixed wall clock for the rules that count time
BOT_SCOPES = manifest_bot_scopes()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(standin: SlackStandIn) -> Iterator[Clock]:
    clock = Clock()
    standin.now = clock
    yield clock


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=standin.api_url)


def refusal(client: WebClient, method: str, **args: Any) -> str:
    """The error Slack answers `method` with; fails if it accepts it."""
    with pytest.raises(SlackApiError) as refused:
        client.api_call(method, json=args)
    return str(refused.value.response["error"])


def text_blocks(n: int) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": f"{i}"}} for i in range(n)]


# ---------------------------------------------------------------- tokens and scopes


def test_the_stand_in_grants_exactly_the_manifests_bot_scopes(standin: SlackStandIn) -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == standin.scopes == BOT_SCOPES
    assert {"chat:write", "users:read", "dnd:read", "im:write", "im:history"} <= standin.scopes


MISSING = [
    (m, {}, METHODS[m].scopes)
    for m in sorted(METHODS)
    if METHODS[m].token == "bot" and METHODS[m].scopes and not BOT_SCOPES & set(METHODS[m].scopes)
] + [
    # The conversation kind decides the scope: the manifest reads the bot's DMs only.
    ("conversations.history", {"channel": "C0001"}, ("channels:history",)),
    ("conversations.history", {"channel": "G0001"}, ("groups:history", "mpim:history")),
    ("conversations.open", {"users": "U0001,U0002"}, ("mpim:write",)),
]


@pytest.mark.parametrize(("method", "args", "needed"), MISSING, ids=lambda v: str(v))
def test_a_method_whose_scope_the_manifest_lacks_is_missing_scope(
    standin: SlackStandIn, method: str, args: dict[str, Any], needed: tuple[str, ...]
) -> None:
    """https://docs.slack.dev/reference/methods/<method>: each method's required scopes."""
    assert needed_scopes(method, args) == needed
    client = WebClient(token=BOT_TOKEN, base_url=standin.api_url)
    with pytest.raises(SlackApiError) as refused:
        client.api_call(method, json=args)
    body = refused.value.response
    assert body["error"] == "missing_scope"
    assert body["needed"] == ",".join(needed)
    assert set(body["provided"].split(",")) == BOT_SCOPES


def test_the_methods_the_bot_calls_are_granted(client: WebClient) -> None:
    assert client.users_info(user="U0001")["user"]["id"] == "U0001"
    assert client.dnd_info(user="U0001")["ok"]
    channel = client.conversations_open(users="U0001")["channel"]["id"]
    assert client.conversations_history(channel=channel)["ok"]
    assert client.chat_postMessage(channel="U0001", text="hi")["ok"]


@pytest.mark.parametrize(
    ("token", "method", "code"),
    [
        (None, "users.info", "not_authed"),
        ("not-a-slack-token", "users.info", "invalid_auth"),
        ("xapp-1-A1-2-abc", "users.info", "not_allowed_token_type"),
        (BOT_TOKEN, "apps.connections.open", "not_allowed_token_type"),
        (BOT_TOKEN, "chat.postMesage", "unknown_method"),
    ],
)
def test_tokens_and_methods_slack_does_not_know_are_refused(
    standin: SlackStandIn, token: str | None, method: str, code: str
) -> None:
    """https://docs.slack.dev/authentication/tokens, https://docs.slack.dev/apis/web-api"""
    client = WebClient(token=token, base_url=standin.api_url)
    assert refusal(client, method, user="U0001") == code


# ---------------------------------------------------------------- chat.postMessage


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"channel": "U0001"}, "no_text"),
        ({"channel": "U0001", "text": "  "}, "no_text"),
        ({"channel": "U0001", "text": "x", "blocks": text_blocks(51)}, "invalid_blocks"),
        ({"channel": "U0001", "text": "x", "blocks": [{"type": "bogus"}]}, "invalid_blocks"),
        ({"channel": "U0001", "text": "x", "blocks": ["section"]}, "invalid_blocks"),
        (
            {"channel": "U0001", "text": "x", "blocks": [{"type": "divider", "colour": "red"}]},
            "invalid_blocks",
        ),
        (
            {"channel": "U0001", "text": "x", "blocks": [{"type": "section", "text": "plain"}]},
            "invalid_blocks",
        ),
        (
            {
                "channel": "U0001",
                "text": "x",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}],
            },
            "invalid_blocks",
        ),
        (
            {"channel": "U0001", "text": "x", "blocks": [{"type": "actions", "elements": []}]},
            "invalid_blocks",
        ),
        (
            {"channel": "U0001", "text": "x", "metadata": {"event_type": "a"}},
            "invalid_metadata_format",
        ),
        ({"channel": "C0001", "text": "x"}, "channel_not_found"),  # no such channel
        ({"channel": "D0042", "text": "x"}, "channel_not_found"),  # a DM never opened
        ({"channel": "u0001", "text": "x"}, "channel_not_found"),  # not a Slack id
        ({"text": "x"}, "channel_not_found"),
    ],
)
def test_post_message_refuses_what_slack_refuses(
    client: WebClient, args: dict[str, Any], code: str
) -> None:
    """https://docs.slack.dev/reference/methods/chat.postMessage#errors"""
    assert refusal(client, "chat.postMessage", **args) == code


def test_invalid_blocks_says_what_is_wrong(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="U0001", text="x", blocks=text_blocks(51))
    assert refused.value.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]


def test_fifty_blocks_are_fine(client: WebClient) -> None:
    assert client.chat_postMessage(channel="U0001", text="x", blocks=text_blocks(50))["ok"]


def test_a_channel_only_where_the_bot_is_a_member(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_channel("C0001")
    assert refusal(client, "chat.postMessage", channel="C0001", text="x") == "not_in_channel"
    standin.join("C0001")
    assert client.chat_postMessage(channel="C0001", text="x")["channel"] == "C0001"


def test_a_dm_by_user_id_or_by_the_channel_it_opened(
    standin: SlackStandIn, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel="U0001", text="hello")
    assert posted["channel"] == "D0001"  # a user id posts in the app's DM with them
    assert client.chat_postMessage(channel="D0001", text="again")["ok"]
    assert refusal(client, "chat.postMessage", channel="D0777", text="x") == "channel_not_found"
    opened = client.conversations_open(users="U0777")["channel"]["id"]
    assert client.chat_postMessage(channel=opened, text="x")["channel"] == opened


def test_grid_user_ids_start_with_w(client: WebClient) -> None:
    """https://docs.slack.dev/enterprise: on Enterprise Grid user ids may start with W."""
    assert client.chat_postMessage(channel="W0GRID1", text="hi")["channel"].startswith("D")


def test_the_reply_carries_the_message_as_posted(client: WebClient) -> None:
    blocks = text_blocks(2)
    metadata = {"event_type": "nudge", "event_payload": {"nudge": "k1"}}
    reply = client.chat_postMessage(channel="U0001", text="t", blocks=blocks, metadata=metadata)
    message = reply["message"]
    assert message["ts"] == reply["ts"] and message["text"] == "t"
    assert message["blocks"] == blocks and message["metadata"] == metadata
    assert message["bot_id"] and message["type"] == "message"
    later = client.chat_postMessage(channel="U0001", text="u")
    assert float(later["ts"]) > float(reply["ts"])  # unique and increasing


# ---------------------------------------------------------------- conversations.history


def post(client: WebClient, n: int, *, metadata: bool = False) -> list[str]:
    extra = {"metadata": {"event_type": "nudge", "event_payload": {"n": 1}}} if metadata else {}
    return [client.chat_postMessage(channel="U0001", text=f"m{i}", **extra)["ts"] for i in range(n)]


def test_history_gives_at_most_fifteen_messages_outside_the_marketplace(
    client: WebClient, clock: Clock
) -> None:
    """https://docs.slack.dev/reference/methods/conversations.history: since 29 May 2025
    the maximum (and default) `limit` is 15 for an app outside the Marketplace."""
    sent = post(client, 20)
    page = client.conversations_history(channel="D0001", limit=50)
    assert [m["ts"] for m in page["messages"]] == sent[::-1][:15]  # newest first
    assert page["has_more"] is True and page["response_metadata"]["next_cursor"]


def test_history_pages_with_its_cursor(client: WebClient, clock: Clock) -> None:
    sent = post(client, 20)
    seen: list[str] = []
    cursor = None
    while True:
        page = client.conversations_history(channel="D0001", limit=8, cursor=cursor)
        seen += [m["ts"] for m in page["messages"]]
        if not page["has_more"]:
            break
        cursor = page["response_metadata"]["next_cursor"]
        clock.now += 61  # one call a minute
    assert seen == sent[::-1]
    clock.now += 61
    assert refusal(client, "conversations.history", channel="D0001", cursor="bogus") == (
        "invalid_cursor"
    )


def test_history_between_oldest_and_latest(client: WebClient, clock: Clock) -> None:
    sent = post(client, 5)
    page = client.conversations_history(channel="D0001", oldest=sent[1], latest=sent[4])
    assert [m["ts"] for m in page["messages"]] == [sent[3], sent[2]]  # both ends excluded
    clock.now += 61
    page = client.conversations_history(
        channel="D0001", oldest=sent[1], latest=sent[4], inclusive=True
    )
    assert [m["ts"] for m in page["messages"]] == sent[4:0:-1]
    assert page["has_more"] is False


def test_history_shows_metadata_only_when_asked(client: WebClient, clock: Clock) -> None:
    post(client, 1, metadata=True)
    [plain] = client.conversations_history(channel="D0001")["messages"]
    clock.now += 61
    [full] = client.conversations_history(channel="D0001", include_all_metadata=True)["messages"]
    assert "metadata" not in plain
    assert full["metadata"] == {"event_type": "nudge", "event_payload": {"n": 1}}


def test_history_once_a_minute_per_workspace(
    standin: SlackStandIn, client: WebClient, clock: Clock
) -> None:
    """https://docs.slack.dev/reference/methods/conversations.history: 1 request a minute
    for an app outside the Marketplace; 429 with Retry-After."""
    post(client, 1)
    assert client.conversations_history(channel="D0001")["ok"]
    clock.now += 20
    with pytest.raises(SlackApiError) as refused:
        client.conversations_history(channel="D0001")
    assert refused.value.response.status_code == 429
    assert refused.value.response["error"] == "ratelimited"
    assert refused.value.response.headers["Retry-After"] == "40"
    other = WebClient(token="xoxb-another-workspace", base_url=standin.api_url)
    assert other.conversations_history(channel="D0001")["ok"]  # per workspace
    clock.now += 41
    assert client.conversations_history(channel="D0001")["ok"]


def test_a_marketplace_app_reads_more_and_more_often(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.marketplace = True
    post(client, 20)
    assert len(client.conversations_history(channel="D0001")["messages"]) == 20
    assert len(client.conversations_history(channel="D0001", limit=5)["messages"]) == 5


def test_history_of_a_conversation_the_bot_cannot_see(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.history_limited = False
    assert refusal(client, "conversations.history", channel="D0999") == "channel_not_found"
    assert refusal(client, "conversations.history") == "channel_not_found"


# ---------------------------------------------------------------- users.info, dnd.info


def test_users_info_knows_only_the_workspaces_people(
    standin: SlackStandIn, client: WebClient
) -> None:
    """https://docs.slack.dev/reference/methods/users.info"""
    pat = client.users_info(user="U0001")["user"]
    assert (pat["tz"], pat["deleted"], pat["is_bot"]) == ("America/New_York", False, False)
    assert pat["tz_offset"] in (-5 * 3600, -4 * 3600) and "email" not in pat["profile"]
    assert refusal(client, "users.info", user="U0404") == "user_not_found"
    standin.add_user("W0GRID", tz="Asia/Kathmandu")
    assert client.users_info(user="W0GRID")["user"]["tz_offset"] == 5 * 3600 + 45 * 60


def test_bots_and_deactivated_people_as_slack_shapes_them(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.add_user("U0ROBOT", is_bot=True)
    standin.add_user("U0GONE", deleted=True)
    robot = client.users_info(user="U0ROBOT")["user"]
    assert robot["is_bot"] is True and robot["profile"]["bot_id"].startswith("B")
    gone = client.users_info(user="U0GONE")["user"]
    assert gone["deleted"] is True and "tz" not in gone and "is_admin" not in gone
    assert refusal(client, "conversations.open", users="U0GONE") == "user_disabled"


def test_dnd_info_shows_a_bot_only_the_scheduled_window(
    standin: SlackStandIn, client: WebClient
) -> None:
    """https://docs.slack.dev/reference/methods/dnd.info: `snooze_*` only for the caller,
    and a bot token is never the person."""
    off = client.dnd_info(user="U0001").data
    assert off == {"ok": True, "dnd_enabled": False, "next_dnd_start_ts": 1, "next_dnd_end_ts": 1}
    standin.set_dnd("U0001", START, START + 1800)
    on = client.dnd_info(user="U0001").data
    assert on == {
        "ok": True,
        "dnd_enabled": True,
        "next_dnd_start_ts": int(START),
        "next_dnd_end_ts": int(START) + 1800,
    }
    assert refusal(client, "dnd.info", user="U0404") == "user_not_found"


def test_no_test_can_make_dnd_info_show_snooze_fields(
    standin: SlackStandIn, client: WebClient
) -> None:
    snoozed = {"ok": True, "dnd_enabled": True, "snooze_enabled": True, "snooze_endtime": 1}
    with pytest.raises(ValueError, match="snooze"):
        standin.script("dnd.info", (200, snoozed, {}))
    standin.responder = lambda call: (200, snoozed, {}) if call.method == "dnd.info" else None
    with pytest.raises(SlackApiError) as refused:
        client.dnd_info(user="U0001")
    assert refused.value.response.status_code == 500


# ---------------------------------------------------------------- views


def home(blocks: int = 1) -> dict[str, Any]:
    return {"type": "home", "blocks": text_blocks(blocks)}


def modal(blocks: int = 1) -> dict[str, Any]:
    title = {"type": "plain_text", "text": "Leg dangle"}
    return {"type": "modal", "title": title, "blocks": text_blocks(blocks)}


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("views.publish", {"view": home()}),
        ("views.publish", {"user_id": "U0001"}),
        ("views.publish", {"user_id": "U0001", "view": modal()}),
        ("views.publish", {"user_id": "U0001", "view": home(101)}),
        ("views.publish", {"user_id": "U0001", "view": {"type": "home", "blocks": [{}]}}),
        ("views.open", {"view": modal()}),
        ("views.open", {"trigger_id": "1.2.3"}),
        ("views.open", {"trigger_id": "1.2.3", "view": home()}),
        ("views.open", {"trigger_id": "1.2.3", "view": {"type": "modal", "blocks": []}}),
        ("views.open", {"trigger_id": "1.2.3", "view": modal(101)}),
    ],
)
def test_views_need_their_arguments_and_at_most_100_blocks(
    client: WebClient, method: str, args: dict[str, Any]
) -> None:
    """https://docs.slack.dev/reference/methods/views.publish,
    https://docs.slack.dev/reference/methods/views.open"""
    assert refusal(client, method, **args) == "invalid_arguments"


def test_a_home_tab_of_100_blocks_is_published_with_its_view(client: WebClient) -> None:
    first = client.views_publish(user_id="U0001", view=home(100))["view"]
    assert first["type"] == "home" and len(first["blocks"]) == 100
    again = client.views_publish(user_id="U0001", view=home(2), hash=first["hash"])["view"]
    assert again["id"] == first["id"] and again["hash"] != first["hash"]
    stale = {"user_id": "U0001", "view": home(), "hash": first["hash"]}
    assert refusal(client, "views.publish", **stale) == "hash_conflict"


def test_a_trigger_opens_one_modal_within_three_seconds(
    standin: SlackStandIn, client: WebClient, clock: Clock
) -> None:
    """https://docs.slack.dev/reference/methods/views.open: `expired_trigger_id`,
    `exchanged_trigger_id`; triggers expire 3 seconds after the interaction."""
    assert refusal(client, "views.open", trigger_id="4.5.6", view=modal()) == "expired_trigger_id"
    trigger = standin.issue_trigger()
    view = client.views_open(trigger_id=trigger, view=modal())["view"]
    assert view["id"] and view["hash"] and view["title"]["text"] == "Leg dangle"
    assert refusal(client, "views.open", trigger_id=trigger, view=modal()) == (
        "exchanged_trigger_id"
    )
    late = standin.issue_trigger()
    clock.now += 3.5
    assert refusal(client, "views.open", trigger_id=late, view=modal()) == "expired_trigger_id"


# ---------------------------------------------------------------- response_url


def test_a_response_url_works_five_times(standin: SlackStandIn) -> None:
    """https://docs.slack.dev/interactivity/handling-user-interaction#message_responses:
    up to 5 times within 30 minutes."""
    url = WebhookClient(standin.response_url("five"))
    assert [url.send(text=f"{n}").status_code for n in range(5)] == [200] * 5
    sixth = url.send(text="6")
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert len(standin.seen_at("five")) == 5


def test_a_response_url_expires_after_thirty_minutes(standin: SlackStandIn, clock: Clock) -> None:
    url = WebhookClient(standin.response_url("late"))
    assert url.send(text="in time").status_code == 200
    clock.now += 30 * 60 + 1
    late = url.send(text="too late")
    assert (late.status_code, late.body) == (404, "expired_url")
    never = WebhookClient(standin.response_url("x").replace("/x", "/never-issued"))
    assert never.send(text="x").status_code == 404


def test_a_response_url_refuses_what_slack_cannot_show(standin: SlackStandIn) -> None:
    url = WebhookClient(standin.response_url("bad"))
    assert (url.send(text="").status_code, url.send(text="").body) == (400, "no_text")
    assert url.send(text="x", blocks=text_blocks(51)).body == "invalid_blocks"
    assert url.send(text="x", blocks=[{"type": "bogus"}]).status_code == 400
    assert standin.seen_at("bad") == []
    assert [url.send(text=f"{n}").status_code for n in range(5)] == [200] * 5  # none used


def test_what_the_person_sees_through_a_response_url(standin: SlackStandIn) -> None:
    """`replace_original` replaces the message the button was on, `delete_original`
    removes it, anything else is a new message."""
    original = {"text": "Step 1", "response_type": "ephemeral"}
    url = WebhookClient(standin.response_url("walk", original=original))
    url.send(text="Step 2", replace_original=True)
    assert [m["text"] for m in standin.seen_at("walk")] == ["Step 2"]
    url.send(text="Logged", replace_original=False)
    assert [m["text"] for m in standin.seen_at("walk")] == ["Step 2", "Logged"]
    url.send(text="Done", replace_original=True)
    url.send(delete_original=True)
    assert [m["text"] for m in standin.seen_at("walk")] == ["Step 2"]


# ---------------------------------------------------------------- rate tiers


@pytest.mark.parametrize(("method", "args", "per_minute"), [
    ("users.info", {"user": "U0001"}, 100),  # Tier 4
    ("dnd.info", {"user": "U0001"}, 50),  # Tier 3
    ("conversations.open", {"users": "U0001"}, 50),  # Tier 3
])  # fmt: skip
def test_rate_tiers_when_a_test_asks_for_them(
    standin: SlackStandIn, clock: Clock, method: str, args: dict[str, Any], per_minute: int
) -> None:
    """https://docs.slack.dev/apis/web-api/rate-limits and each method's page: Tier 3 is 50+
    a minute, Tier 4 100+, per method and workspace."""
    client = WebClient(token=BOT_TOKEN, base_url=standin.api_url)
    for _ in range(per_minute + 5):  # off by default
        client.api_call(method, json=args)
    standin.reset()
    standin.now = clock
    standin.rate_limits = True
    for _ in range(per_minute):  # a burst of a minute's worth, at one instant
        client.api_call(method, json=args)
    with pytest.raises(SlackApiError) as refused:
        client.api_call(method, json=args)
    assert refused.value.response.status_code == 429
    assert 1 <= int(refused.value.response.headers["Retry-After"]) <= 60
    clock.now += 60
    assert client.api_call(method, json=args)["ok"]


def test_post_message_about_one_a_second_per_channel(
    standin: SlackStandIn, client: WebClient, clock: Clock
) -> None:
    """https://docs.slack.dev/reference/methods/chat.postMessage#rate_limiting: about one
    message a second per channel, short bursts allowed."""
    standin.rate_limits = True
    for _ in range(5):
        client.chat_postMessage(channel="U0001", text="burst")
    assert client.chat_postMessage(channel="U0002", text="another channel")["ok"]
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="U0001", text="one too many")
    assert refused.value.response.status_code == 429
    clock.now += 1.1
    assert client.chat_postMessage(channel="U0001", text="a second later")["ok"]


# ---------------------------------------------------------------- scripted answers


def test_scripted_answers_come_after_slacks_own_checks(
    standin: SlackStandIn, client: WebClient
) -> None:
    """A test cannot script its way past a refusal: the call is checked first."""
    standin.script("chat.postMessage", error("account_inactive"))
    assert refusal(client, "chat.postMessage", channel="U0001") == "no_text"
    assert refusal(client, "chat.postMessage", channel="U0001", text="x") == "account_inactive"


def test_the_export_upload_as_slack_takes_it(standin: SlackStandIn, client: WebClient) -> None:
    """https://docs.slack.dev/reference/methods/files.getUploadURLExternal,
    https://docs.slack.dev/reference/methods/files.completeUploadExternal"""
    channel = client.conversations_open(users="U0001")["channel"]["id"]
    done = client.files_upload_v2(channel=channel, content="{}", filename="export.json", title="e")
    assert done["files"][0]["title"] == "e"
    unknown = [{"id": "F0NOPE", "title": "x"}]
    assert refusal(client, "files.completeUploadExternal", files=unknown) == "file_not_found"


def test_a_caller_that_hangs_up_before_its_answer_leaves_no_traceback(
    standin: SlackStandIn, capfd: pytest.CaptureFixture[str]
) -> None:
    """A client whose own timeout ran out closes the connection; the stand-in, still
    answering, finds it gone. That is the caller's business: nothing on stderr."""
    hung_up, answering = threading.Event(), threading.Event()

    def slow(call: Call) -> None:
        answering.set()
        hung_up.wait(timeout=5)
        return None  # then the usual answer, written to a closed connection

    standin.responder = slow
    body = json.dumps({"channel": "U0001", "text": "hi"}).encode()
    address = urllib.parse.urlsplit(standin.api_url)
    caller = socket.create_connection((address.hostname, address.port))
    caller.sendall(
        b"POST /api/chat.postMessage HTTP/1.1\r\nHost: slack\r\n"
        b"Authorization: Bearer " + BOT_TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
        + b"\r\n\r\n" + body
    )  # fmt: skip
    assert answering.wait(timeout=5)
    # An abortive close (RST), as a client's socket timeout with SO_LINGER 0 does.
    caller.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    caller.close()
    hung_up.set()
    calls = len(standin.calls)
    WebClient(token=BOT_TOKEN, base_url=standin.api_url).api_call("auth.test")  # still serves
    assert len(standin.calls) > calls
    assert "Traceback" not in capfd.readouterr().err


def test_a_caller_cut_off_mid_body_posts_nothing(standin: SlackStandIn) -> None:
    """A sender killed while writing its request leaves a body shorter than its
    Content-Length. Slack's server never gets a whole request, so nothing is posted: the
    stand-in records no call (it recorded one with no arguments, no channel)."""
    body = json.dumps({"channel": "U0001", "text": "hi"}).encode()
    address = urllib.parse.urlsplit(standin.api_url)
    with socket.create_connection((address.hostname, address.port)) as caller:
        caller.sendall(
            b"POST /api/chat.postMessage HTTP/1.1\r\nHost: slack\r\n"
            b"Authorization: Bearer " + BOT_TOKEN.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\n\r\n" + body[: len(body) // 2]
        )  # fmt: skip
        caller.shutdown(socket.SHUT_WR)  # the process is gone: no more bytes will come
        assert caller.recv(1024) == b""  # closed, with no answer
    WebClient(token=BOT_TOKEN, base_url=standin.api_url).api_call("auth.test")  # still serves
    assert standin.calls_to("chat.postMessage") == []

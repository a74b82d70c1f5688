"""I'm in, on a team stretch break in a channel: counted once per person, and the break's
message updated in place with who stretched ("Ana, Bo and 3 others stretched")."""

from __future__ import annotations

import logging

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.data.team_breaks import PostedBreak, find_posted, join_break, joiners
from bot.render.kit import build_notice
from bot.render.team import build_joined, build_team_break, team_exercise
from bot.slack.context import Payload, Services, services_of, who_from
from bot.slack.failures import after_ack
from bot.slack.webapi import lookup_timezone

log = logging.getLogger(__name__)

# Presses that land together each render the joiners; a few rounds settle on the last word.
UPDATE_ROUNDS = 3


def parse_join_value(value: object) -> tuple[int, str] | None:
    """`<break log id>:<exercise slug>`, as build_team_break writes it."""
    number, _, slug = str(value or "").partition(":")
    return (int(number), slug) if number.isdigit() and slug else None


@after_ack
def join_team_break(
    action: Payload, body: Payload, context: BoltContext, respond: Respond, client: WebClient
) -> None:
    services = services_of(context)
    who = who_from(context, body)
    parsed = parse_join_value(action.get("value"))
    posted = find_posted(services.db, who.team_id, parsed[0]) if parsed else None
    if posted is None:
        text = "I can't find this team break any more, so nothing was counted."
        respond(replace_original=False, response_type="ephemeral", **build_notice(text).as_kwargs())
        return
    joined = join_break(
        services.db,
        who,
        posted,
        now=services.clock(),
        timezone_of=lambda: lookup_timezone(client, who.user_id),
    )
    exercise = services.library.get(posted.exercise)
    reply = build_joined(joined.new, exercise, joined.stats)
    respond(replace_original=False, response_type="ephemeral", **reply.as_kwargs())
    if joined.new:
        ts = posted.message_ts or (body.get("container") or {}).get("message_ts")
        if isinstance(ts, str) and ts:
            update_break_message(services, client, who.team_id, posted, ts)


def update_break_message(
    services: Services, client: WebClient, team_id: str, posted: PostedBreak, ts: str
) -> None:
    """Show everyone who joined so far. Presses that land together may update out of order,
    so after each update the joiners are read again, and shown again if more came."""
    exercise = team_exercise(services.library, posted.exercise)
    shown: list[str] | None = None
    for _ in range(UPDATE_ROUNDS):
        names = joiners(services.db, team_id, posted)
        if names == shown:
            return
        message = build_team_break(exercise, posted.log_id, names)
        try:
            client.chat_update(channel=posted.channel, ts=ts, **message.as_kwargs())
        except SlackApiError as exc:  # the join is counted; only the message stays behind
            log.warning(
                "could not update a team break: %s",
                exc.response.get("error"),
                extra={"team_id": team_id, "channel": posted.channel},
            )
            return
        shown = names

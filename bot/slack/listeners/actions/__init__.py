import re
from collections.abc import Callable

from slack_bolt import App

from bot import ids
from bot.slack.failures import acknowledge
from bot.slack.listeners.actions.exercise import (
    record_done,
    share_exercise,
    show_exercise,
    start_guided,
)
from bot.slack.listeners.actions.nudge import BUTTONS, answer_nudge_button, nudge_show_me
from bot.slack.listeners.actions.settings import cancel_forget, change_from_home_tab, confirm_forget
from bot.slack.listeners.actions.team import join_team_break

HOME_CONTROLS = (
    ids.ACTION_HOME_TOGGLE,
    ids.ACTION_HOME_START,
    ids.ACTION_HOME_END,
    ids.ACTION_HOME_DAYS,
    ids.ACTION_HOME_INTERVAL,
    ids.ACTION_HOME_QUIET_START,
    ids.ACTION_HOME_QUIET_END,
    ids.ACTION_HOME_QUIET_CLEAR,
    ids.ACTION_HOME_SNOOZE,
    ids.ACTION_HOME_SUMMARY,
    ids.ACTION_HOME_MEETINGS,
)


# Every button answers through its response URL, views.open or views.publish: all of them
# Web API calls, so each is acknowledged at once and does its work after the ack (Bolt's
# lazy listeners), well inside Slack's 3 seconds however slow Slack is.
LISTENERS: dict[str | re.Pattern[str], Callable[..., None]] = {
    # `show_exercise` alone on list rows; `show_exercise-N` where several share one block.
    re.compile(rf"^{ids.ACTION_SHOW_EXERCISE}(-\d+)?$"): show_exercise,
    ids.ACTION_START_GUIDED: start_guided,
    ids.ACTION_GUIDED_BACK: start_guided,
    ids.ACTION_GUIDED_NEXT: start_guided,
    ids.ACTION_GUIDED_DONE: record_done,
    ids.ACTION_DID_IT: record_done,
    ids.ACTION_SHARE_EXERCISE: share_exercise,
    **dict.fromkeys(BUTTONS, answer_nudge_button),
    ids.ACTION_NUDGE_SHOW_ME: nudge_show_me,
    ids.ACTION_FORGET_CONFIRM: confirm_forget,
    ids.ACTION_FORGET_CANCEL: cancel_forget,
    ids.ACTION_TEAM_JOIN: join_team_break,
    **dict.fromkeys(HOME_CONTROLS, change_from_home_tab),
}


def register(app: App) -> None:
    for action_id, listener in LISTENERS.items():
        app.action(action_id)(ack=acknowledge, lazy=[listener])

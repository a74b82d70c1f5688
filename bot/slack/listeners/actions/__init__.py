import re

from slack_bolt import App

from bot import ids
from bot.slack.listeners.actions.exercise import (
    record_done,
    share_exercise,
    show_exercise,
    start_guided,
)
from bot.slack.listeners.actions.nudge import BUTTONS, answer_nudge_button, nudge_show_me
from bot.slack.listeners.actions.settings import cancel_forget, change_from_home_tab, confirm_forget

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
)


def register(app: App) -> None:
    # `show_exercise` alone on list rows; `show_exercise-N` where several share one block.
    app.action(re.compile(rf"^{ids.ACTION_SHOW_EXERCISE}(-\d+)?$"))(show_exercise)
    for action_id in (ids.ACTION_START_GUIDED, ids.ACTION_GUIDED_BACK, ids.ACTION_GUIDED_NEXT):
        app.action(action_id)(start_guided)
    app.action(ids.ACTION_GUIDED_DONE)(record_done)
    app.action(ids.ACTION_DID_IT)(record_done)
    app.action(ids.ACTION_SHARE_EXERCISE)(share_exercise)
    for action_id in BUTTONS:
        app.action(action_id)(answer_nudge_button)
    app.action(ids.ACTION_NUDGE_SHOW_ME)(nudge_show_me)
    app.action(ids.ACTION_FORGET_CONFIRM)(confirm_forget)
    app.action(ids.ACTION_FORGET_CANCEL)(cancel_forget)
    for action_id in HOME_CONTROLS:
        app.action(action_id)(change_from_home_tab)

import re

from slack_bolt import App

from bot import ids
from bot.listeners.actions.exercise import show_exercise
from bot.listeners.actions.settings import cancel_forget, change_from_home_tab, confirm_forget

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
)


def register(app: App) -> None:
    # `show_exercise` alone on list rows; `show_exercise-N` where several share one block.
    app.action(re.compile(rf"^{ids.ACTION_SHOW_EXERCISE}(-\d+)?$"))(show_exercise)
    app.action(ids.ACTION_FORGET_CONFIRM)(confirm_forget)
    app.action(ids.ACTION_FORGET_CANCEL)(cancel_forget)
    for action_id in HOME_CONTROLS:
        app.action(action_id)(change_from_home_tab)

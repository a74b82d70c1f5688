import re

from slack_bolt import App

from bot import ids
from bot.listeners.actions.exercise import show_exercise


def register(app: App) -> None:
    # `show_exercise` alone on list rows; `show_exercise-N` where several share one block.
    app.action(re.compile(rf"^{ids.ACTION_SHOW_EXERCISE}(-\d+)?$"))(show_exercise)

"""Every Slack identifier the app answers to, each defined once.

The manifest test checks these against `deploy/manifest.yaml` and the registered listeners.
"""

SLASH_COMMAND = "/psoas"

# Buttons on exercise messages and lists.
ACTION_SHOW_EXERCISE = "show_exercise"
ACTION_START_GUIDED = "start_guided"
ACTION_SHARE_EXERCISE = "share_exercise"
ACTION_DID_IT = "did_exercise"
ACTION_GUIDED_BACK = "guided_back"
ACTION_GUIDED_NEXT = "guided_next"
ACTION_GUIDED_DONE = "guided_done"

# Buttons on a nudge (handled by the interactions listeners).
ACTION_NUDGE_DONE = "nudge_done"
ACTION_NUDGE_SNOOZE_HOUR = "nudge_snooze_1h"
ACTION_NUDGE_SKIP_TODAY = "nudge_skip_today"
ACTION_NUDGE_SHOW_ME = "nudge_show_me"

# Confirmation for `forget me`.
ACTION_FORGET_CONFIRM = "forget_me_confirm"
ACTION_FORGET_CANCEL = "forget_me_cancel"

# App Home controls.
ACTION_HOME_TOGGLE = "home_toggle_nudges"
ACTION_HOME_START = "home_hours_start"
ACTION_HOME_END = "home_hours_end"
ACTION_HOME_DAYS = "home_days"
ACTION_HOME_INTERVAL = "home_interval"
ACTION_HOME_QUIET_START = "home_quiet_start"
ACTION_HOME_QUIET_END = "home_quiet_end"
ACTION_HOME_QUIET_CLEAR = "home_quiet_clear"
ACTION_HOME_SNOOZE = "home_snooze"
ACTION_HOME_SUMMARY = "home_weekly_summary"
ACTION_HOME_MEETINGS = "home_meetings"

# The I'm in button on a team stretch break in a channel.
ACTION_TEAM_JOIN = "team_break_join"

# What the bot asks for at install; deploy/manifest.yaml lists the same.
BOT_SCOPES = (
    "commands", "chat:write", "users:read", "dnd:read", "im:write", "im:history", "files:write",
    "channels:read", "groups:read",
)  # fmt: skip

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"

EVENT_APP_HOME_OPENED = "app_home_opened"
EVENT_USER_CHANGE = "user_change"
EVENT_USER_HUDDLE_CHANGED = "user_huddle_changed"
EVENT_DND_UPDATED_USER = "dnd_updated_user"
EVENT_APP_UNINSTALLED = "app_uninstalled"
EVENT_TOKENS_REVOKED = "tokens_revoked"
# A team break's channel went away, or the bot left it: the break ends.
EVENT_CHANNEL_ARCHIVE = "channel_archive"
EVENT_GROUP_ARCHIVE = "group_archive"
EVENT_CHANNEL_DELETED = "channel_deleted"
EVENT_MEMBER_LEFT_CHANNEL = "member_left_channel"

"""psoas-bot: a Slack app that keeps desk workers moving."""

__version__ = "0.1.0"

"""Block Kit builders, one module per surface (exercise, help, settings, stats, nudge, Home),
on the shared `kit`. Pure: each takes core values and returns what Slack receives.
"""

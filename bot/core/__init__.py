"""The pure core: the `/psoas` grammar, settings changes, preferences, schedule math, stats
and the exercise library. No Slack, no database, no clock, and no import from the rest of
`bot`: every other package builds on this one.
"""

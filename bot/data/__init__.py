"""The database edge: the engine and its one error boundary, the models, one module per
aggregate (people, workspaces, activity), the OAuth installations, and the migrations.
Every function is scoped by the workspace of Slack's signed payload.
"""

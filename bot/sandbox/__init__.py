"""The sandbox: psoas-bot running against a built-in Slack, no workspace needed.

`standin.py` is that Slack: a stand-in for the Web API and `response_url`, served with the
standard library only so it ships without test dependencies. It is the same stand-in the
tests use (`tests/support/standin.py` re-exports it), so tests and sandbox cannot drift apart.
"""

"""The nudge engine: claims in SQL (`claims`), one pass on the clock (`tick`), and the
rate-limited DM sender (`sender`). Any number of processes share the work through the
database, without a leader.
"""

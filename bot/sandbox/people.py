"""The sandbox's workspace: one team, one channel, and a few people in different time zones.

The built-in Slack knows them (`users.info` answers with their time zones, as Slack would),
so the bot schedules each person's nudges in their own working hours.
"""

from __future__ import annotations

from dataclasses import dataclass

TEAM_ID = "T0SANDBOX"
TEAM_DOMAIN = "sandbox"
APP_ID = "A0PSOASBOT"
BOT_USER_ID = "U0PSOASBOT"
BOT_ID = "B0PSOASBOT"
CHANNEL_ID = "C0GENERAL"
CHANNEL_NAME = "general"


@dataclass(frozen=True)
class SamplePerson:
    user_id: str
    name: str
    handle: str
    city: str
    tz: str
    colour: str  # the avatar's background on the page

    @property
    def dm_channel(self) -> str:
        """The person's DM with the bot, named as Slack names it (`U…` -> `D…`)."""
        return "D" + self.user_id[1:]


PEOPLE: tuple[SamplePerson, ...] = (
    SamplePerson("U0ANA", "Ana Silva", "ana", "Lisbon", "Europe/Lisbon", "#2eb67d"),
    SamplePerson("U0SAM", "Sam Okafor", "sam", "New York", "America/New_York", "#36c5f0"),
    SamplePerson("U0PRIYA", "Priya Nair", "priya", "Bengaluru", "Asia/Kolkata", "#ecb22e"),
    SamplePerson("U0KENJI", "Kenji Sato", "kenji", "Tokyo", "Asia/Tokyo", "#e01e5a"),
)
BY_ID = {person.user_id: person for person in PEOPLE}
BY_DM = {person.dm_channel: person for person in PEOPLE}


def person(user_id: str) -> SamplePerson:
    """The sample person with this id; KeyError for anyone else."""
    return BY_ID[user_id]

"""The bAbI vocabulary of tasks qa1-qa5: the official v1.2 words, and a wider one.

The generator writes with it and the rule-based reader parses with it. The official
lists were measured on the official files, so generated stories speak exactly the
official language (the generator's tests check it against the files). A model trained
only on them learns four names, six rooms and three things, and users' documents use
none of them, so the generator can also draw each story's words from wider lists
(`VARIED`): any name, room and thing of those, and more verbs, in the same templates.
The reader knows every verb of both, and reads any capitalised name, room or thing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PEOPLE = ("Mary", "John", "Daniel", "Sandra")
QA5_PEOPLE = ("Fred", "Bill", "Jeff", "Mary")
PLACES = ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")
THINGS = ("apple", "football", "milk")
MOVE_VERBS = ("moved to", "went to", "went back to", "journeyed to", "travelled to")
GET_VERBS = ("got", "grabbed", "picked up", "took")
DROP_VERBS = ("dropped", "discarded", "put down", "left")
GIVE_VERBS = ("gave", "handed", "passed")
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}

MORE_PEOPLE = (
    "Alice",
    "Ben",
    "Carlos",
    "Chloe",
    "Emma",
    "Ethan",
    "Fatima",
    "Grace",
    "Hana",
    "Ivan",
    "Jamal",
    "Julia",
    "Kenji",
    "Laura",
    "Leo",
    "Lucia",
    "Mateo",
    "Mei",
    "Nadia",
    "Noah",
    "Olga",
    "Omar",
    "Paul",
    "Priya",
    "Rosa",
    "Sam",
    "Sofia",
    "Tom",
    "Yusuf",
    "Zoe",
)
MORE_PLACES = (
    "attic",
    "balcony",
    "basement",
    "cellar",
    "classroom",
    "corridor",
    "garage",
    "gym",
    "kitchenette",
    "library",
    "lobby",
    "pantry",
    "porch",
    "shed",
    "studio",
    "terrace",
    "workshop",
    "yard",
)
MORE_THINGS = (
    "bag",
    "ball",
    "book",
    "bottle",
    "camera",
    "cup",
    "hat",
    "key",
    "lamp",
    "laptop",
    "letter",
    "notebook",
    "phone",
    "umbrella",
    "wallet",
    "watch",
)
MORE_MOVE_VERBS = ("walked to", "ran to", "headed to", "returned to", "hurried to")
MORE_GET_VERBS = ("collected", "lifted", "fetched")
MORE_DROP_VERBS = ("set down", "abandoned", "laid down")
MORE_GIVE_VERBS = ("offered", "brought", "lent")

VOCABULARIES = ("official", "varied")


@dataclass(frozen=True)
class Vocabulary:
    """The words one story is written with. `things` is also the order in which a qa5
    giver holding several things picks the gift, and `receivers` the order in which
    a gift goes to whoever is present (the official stories' fixed orders)."""

    people: tuple[str, ...]
    qa5_people: tuple[str, ...]
    places: tuple[str, ...]
    things: tuple[str, ...]
    move_verbs: tuple[str, ...]
    get_verbs: tuple[str, ...]
    drop_verbs: tuple[str, ...]
    give_verbs: tuple[str, ...]
    receivers: tuple[str, ...]


OFFICIAL = Vocabulary(
    PEOPLE,
    QA5_PEOPLE,
    PLACES,
    THINGS,
    MOVE_VERBS,
    GET_VERBS,
    DROP_VERBS,
    GIVE_VERBS,
    receivers=("Mary", "Fred", "Bill", "Jeff"),
)
READ_MOVE_VERBS = MOVE_VERBS + MORE_MOVE_VERBS
READ_GET_VERBS = GET_VERBS + MORE_GET_VERBS
READ_DROP_VERBS = DROP_VERBS + MORE_DROP_VERBS
READ_GIVE_VERBS = GIVE_VERBS + MORE_GIVE_VERBS
"""Every verb either vocabulary writes: what the reader parses."""


def story_vocabulary(kind: str, rng: random.Random) -> Vocabulary:
    """The words of one story: the official ones, or ("varied") as many people,
    rooms and things as the official stories have, drawn from the official and the
    wider lists together, with every verb of both."""
    if kind == "official":
        return OFFICIAL
    people = rng.sample(PEOPLE + QA5_PEOPLE[:3] + MORE_PEOPLE, len(PEOPLE))
    return Vocabulary(
        people=tuple(people),
        qa5_people=tuple(people),
        places=tuple(rng.sample(PLACES + MORE_PLACES, len(PLACES))),
        things=tuple(rng.sample(THINGS + MORE_THINGS, len(THINGS))),
        move_verbs=READ_MOVE_VERBS,
        get_verbs=READ_GET_VERBS,
        drop_verbs=READ_DROP_VERBS,
        give_verbs=READ_GIVE_VERBS,
        receivers=tuple(people),
    )

"""A seeded generator of bAbI-style stories for tasks qa1-qa5 (the offline default).

It writes the official v1.2 vocabulary, templates and story shapes, so that a model
trained on generated stories works on the official files. The rules below were
measured on the official files (en and en-10k), not guessed:

- A story is simulated in a hidden true world: four people and three things start in
  random rooms; a move always goes to another room, a get needs the thing in the
  person's room, a drop or give needs the thing in hand, a give needs both people in
  one room. The sentences state only the actions, so early on a reader may not know
  where someone is.
- Each step picks one valid (person, kind of action), with kind weights fitted to the
  official share of moves, gets, drops and gives; then the room or thing uniformly,
  except that a qa5 give follows the official fixed order of things and receivers.
- Facts come in rounds of two; after each round the story asks a question if one is
  due, until it holds five (qa4: two relations and one question per story).
- A question is only about something stated in the last five facts (the official
  stories never reach further back), and it is due exactly when such a question
  exists: qa2 a thing got or dropped lately whose place the sentences fix, qa3 such a
  thing that has been carried through two rooms since it was got, qa5 a recent give.
  qa1 asks every round, about the person of one of the last five moves.

Answers and supporting facts come from the generator's own record of what the
sentences have told while it writes them; `support` lists the official reasoning
order (qa2: thing fact, then the move; qa3: thing fact, move into the asked room,
move into the room before).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.babi_files import BabiSample, check_task
from qrag_pipeline.sources.babi_vocabulary import (
    OPPOSITE,
    VOCABULARIES,
    Vocabulary,
    story_vocabulary,
)

QUESTIONS_PER_STORY = 5
FACTS_PER_ROUND = 2
RECENT_FACTS = 5
"""A question rests on a fact among the last five (official maximum distance)."""

ACTIONS = {
    "qa1": ("move",),
    "qa2": ("move", "get", "drop"),
    "qa3": ("move", "get", "drop"),
    "qa5": ("move", "get", "drop", "give"),
}
ACTION_WEIGHTS = {"move": 1.0, "get": 1.3, "drop": 1.3, "give": 5.0}
"""Weight of one valid (person, kind) option; fitted to the official action shares."""

GET_THERE = {"qa2": 1.0, "qa3": 0.2, "qa5": 1.0}
"""How often "got the milk" ends in "there" (always in qa2 and qa5)."""
DROP_THERE = 0.2

NEAR_IS_REFERENCE = 2 / 3
"""qa4: how often a fact names the middle room as reference ("... of the kitchen")."""

GIFT_QUESTIONS = (
    ("What did {giver} give to {receiver}?", "thing", 2),
    ("Who gave the {thing}?", "giver", 1),
    ("Who gave the {thing} to {receiver}?", "giver", 1),
    ("Who received the {thing}?", "receiver", 1),
    ("Who did {giver} give the {thing} to?", "receiver", 1),
)
"""qa5 forms with the role answering them and their weight (the official shares)."""


@dataclass(frozen=True)
class _Question:
    """A question with its answer and supporting fact indices (official order)."""

    text: str
    answer: str
    support: tuple[int, ...]


@dataclass(frozen=True)
class _Gift:
    """A written give, kept so that qa5 can ask about the latest one."""

    fact: int
    giver: str
    thing: str
    receiver: str


@dataclass
class _World:
    """The true state of one story and what its sentences have told so far.

    The true rooms decide which actions are possible; the told record (fact indices of
    the latest moves and thing events, the rooms a thing was carried through) is all
    that answers and supporting facts are built from, as a reader of the story sees it.
    """

    task: str
    rng: random.Random
    vocab: Vocabulary
    room: dict[str, str]
    lying: dict[str, str]
    holder: dict[str, str] = field(default_factory=dict)
    facts: list[str] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)
    last_move: dict[str, int] = field(default_factory=dict)
    thing_event: dict[str, int] = field(default_factory=dict)
    dropped_at: dict[str, tuple[str, int]] = field(default_factory=dict)
    carried: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    gifts: list[_Gift] = field(default_factory=list)

    def recent(self, index: int) -> bool:
        """Whether fact `index` is among the last `RECENT_FACTS` facts."""
        return index >= len(self.facts) - RECENT_FACTS

    def write(self, person: str, fact: str) -> int:
        """Append the fact `person` performs; return its index for the told record."""
        self.facts.append(fact)
        self.actors.append(person)
        return len(self.facts) - 1


def _start_world(task: str, rng: random.Random, vocab: Vocabulary) -> _World:
    """People and things in random rooms that no sentence has stated yet."""
    people = vocab.qa5_people if task == "qa5" else vocab.people
    room = {person: rng.choice(vocab.places) for person in people}
    lying = {thing: rng.choice(vocab.places) for thing in vocab.things}
    return _World(task, rng, vocab, room, lying)


def _held_by(world: _World, person: str) -> list[str]:
    """The things `person` holds, in the vocabulary's order (which qa5 gifts follow)."""
    return [thing for thing in world.vocab.things if world.holder.get(thing) == person]


def _companions(world: _World, person: str) -> list[str]:
    """The other people in `person`'s true room (who could receive a give)."""
    here = world.room[person]
    return [other for other, room in world.room.items() if room == here and other != person]


def _possible(world: _World, person: str, kind: str) -> bool:
    """Whether the true world lets `person` perform an action of `kind` now."""
    if kind == "get":
        return world.room[person] in world.lying.values()
    if kind in ("drop", "give"):
        held = bool(_held_by(world, person))
        return held and (kind == "drop" or bool(_companions(world, person)))
    return True


def _options(world: _World) -> list[tuple[str, str]]:
    """Every (person, kind of action) the true world allows now."""
    return [
        (person, kind)
        for person in world.room
        for kind in ACTIONS[world.task]
        if _possible(world, person, kind)
    ]


def _act(world: _World) -> None:
    """Perform and write one action, chosen as the official stories choose them."""
    options = _options(world)
    weights = [ACTION_WEIGHTS[kind] for _, kind in options]
    person, kind = world.rng.choices(options, weights)[0]
    _PERFORM[kind](world, person)


def _move(world: _World, person: str) -> None:
    """Move to another room; things in hand go along and record the room."""
    place = world.rng.choice([p for p in world.vocab.places if p != world.room[person]])
    world.room[person] = place
    verb = world.rng.choice(world.vocab.move_verbs)
    index = world.write(person, f"{person} {verb} the {place}.")
    world.last_move[person] = index
    for thing in _held_by(world, person):
        world.carried[thing].append((place, index))


def _get(world: _World, person: str) -> None:
    """Pick up a thing in the room.

    Its carried rooms start afresh: the official qa3 questions only ask about rooms
    the thing passed through since its latest get.
    """
    here = world.room[person]
    thing = world.rng.choice(sorted(t for t, p in world.lying.items() if p == here))
    del world.lying[thing]
    world.holder[thing] = person
    there = " there" if world.rng.random() < GET_THERE[world.task] else ""
    verb = world.rng.choice(world.vocab.get_verbs)
    fact = f"{person} {verb} the {thing}{there}."
    world.thing_event[thing] = world.write(person, fact)
    world.carried[thing] = []
    world.dropped_at.pop(thing, None)


def _drop(world: _World, person: str) -> None:
    """Put a held thing down; its place is told only if the person's room is."""
    thing = world.rng.choice(_held_by(world, person))
    del world.holder[thing]
    world.lying[thing] = world.room[person]
    there = " there" if world.rng.random() < DROP_THERE else ""
    verb = world.rng.choice(world.vocab.drop_verbs)
    fact = f"{person} {verb} the {thing}{there}."
    world.thing_event[thing] = world.write(person, fact)
    if person in world.last_move:
        world.dropped_at[thing] = (world.room[person], world.last_move[person])


def _give(world: _World, person: str) -> None:
    """Hand a held thing to someone in the same room.

    Not a random pick: the official qa5 stories always give the first held thing in
    the vocabulary's order of things to the first present person in its order of
    receivers, which skews their answers (more "apple" and "Mary" than "milk" and
    "Jeff").
    """
    thing = _held_by(world, person)[0]
    companions = _companions(world, person)
    receiver = next(other for other in world.vocab.receivers if other in companions)
    world.holder[thing] = receiver
    verb = world.rng.choice(world.vocab.give_verbs)
    index = world.write(person, f"{person} {verb} the {thing} to {receiver}.")
    world.thing_event[thing] = index
    world.gifts.append(_Gift(index, person, thing, receiver))


_PERFORM: dict[str, Callable[[_World, str], None]] = {
    "move": _move,
    "get": _get,
    "drop": _drop,
    "give": _give,
}


def _ask_person(world: _World) -> _Question:
    """qa1: where the person of one of the last five moves is now."""
    person = world.rng.choice(world.actors[-RECENT_FACTS:])
    move = world.last_move[person]
    return _Question(f"Where is {person}?", world.room[person], (move,))


def _told_place(world: _World, thing: str) -> _Question | None:
    """qa2: where the sentences put `thing`, if its last get or drop is recent.

    A held thing counts only once its holder has moved after the get (the official
    stories never ask about a thing whose holder's room is known only from before).
    """
    event = world.thing_event.get(thing)
    if event is None or not world.recent(event):
        return None
    question = f"Where is the {thing}?"
    if thing in world.holder:
        move = world.last_move.get(world.holder[thing], -1)
        if move < event:
            return None
        return _Question(question, world.room[world.holder[thing]], (event, move))
    if thing not in world.dropped_at:
        return None
    place, move = world.dropped_at[thing]
    return _Question(question, place, (event, move))


def _ask_thing(world: _World) -> _Question | None:
    """qa2: a random thing among those whose place a recent fact settles."""
    questions = [q for q in (_told_place(world, t) for t in world.vocab.things) if q is not None]
    return world.rng.choice(questions) if questions else None


def _ask_before(world: _World) -> _Question | None:
    """qa3: where a recently got or dropped thing was before it last reached a room.

    The rooms are those its last holder carried it through since the get; a room is
    asked about only at its last visit, so "before the kitchen" has one answer.
    """
    things = [
        thing
        for thing in world.vocab.things
        if thing in world.thing_event
        and world.recent(world.thing_event[thing])
        and len(world.carried[thing]) >= 2
    ]
    if not things:
        return None
    thing = world.rng.choice(things)
    stays = world.carried[thing]
    last_visits = [
        k for k in range(1, len(stays)) if all(place != stays[k][0] for place, _ in stays[k + 1 :])
    ]
    k = world.rng.choice(last_visits)
    (earlier, into_earlier), (place, into_place) = stays[k - 1], stays[k]
    support = (world.thing_event[thing], into_place, into_earlier)
    return _Question(f"Where was the {thing} before the {place}?", earlier, support)


def _ask_gift(world: _World) -> _Question | None:
    """qa5: one of five question forms about the latest give, if it is recent.

    Only the latest give is asked about, so each form's natural reading (the latest
    give that fits it) is that give.
    """
    if not world.gifts or not world.recent(world.gifts[-1].fact):
        return None
    gift = world.gifts[-1]
    forms = [(text, role) for text, role, _ in GIFT_QUESTIONS]
    text, role = world.rng.choices(forms, [w for _, _, w in GIFT_QUESTIONS])[0]
    roles = {"giver": gift.giver, "thing": gift.thing, "receiver": gift.receiver}
    return _Question(text.format(**roles), roles[role], (gift.fact,))


_ASK: dict[str, Callable[[_World], _Question | None]] = {
    "qa1": _ask_person,
    "qa2": _ask_thing,
    "qa3": _ask_before,
    "qa5": _ask_gift,
}


def _world_story(task: str, story: int, rng: random.Random, vocab: Vocabulary) -> list[BabiSample]:
    """qa1, qa2, qa3, qa5: rounds of two facts, a question after each due round."""
    world = _start_world(task, rng, vocab)
    samples: list[BabiSample] = []
    while len(samples) < QUESTIONS_PER_STORY:
        for _ in range(FACTS_PER_ROUND):
            _act(world)
        question = _ASK[task](world)
        if question is not None:
            samples.append(
                BabiSample(
                    task=task,
                    story=story,
                    facts=tuple(world.facts),
                    question=question.text,
                    answer=question.answer,
                    support=question.support,
                )
            )
    return samples


@dataclass(frozen=True)
class _Relation:
    """A qa4 fact: room `subject` lies `direction` of room `reference`."""

    subject: str
    direction: str
    reference: str

    @property
    def sentence(self) -> str:
        """The fact as the official files write it."""
        return f"The {self.subject} is {self.direction} of the {self.reference}."


def _relation(near: str, direction: str, middle: str, rng: random.Random) -> _Relation:
    """`near` lies `direction` of `middle`, said with either room as the subject."""
    if rng.random() < NEAR_IS_REFERENCE:
        return _Relation(near, direction, middle)
    return _Relation(middle, OPPOSITE[direction], near)


def _relations_story(story: int, rng: random.Random, vocab: Vocabulary) -> list[BabiSample]:
    """qa4: three rooms in a row, two facts about the middle one, one question.

    The question is about one fact's reference room ("What is north of the
    kitchen?" or "What is the kitchen south of?"); its answer is that fact's subject.
    """
    first, middle, second = rng.sample(vocab.places, 3)
    direction = rng.choice(sorted(OPPOSITE))
    relations = (
        _relation(first, direction, middle, rng),
        _relation(second, OPPOSITE[direction], middle, rng),
    )
    asked = rng.randrange(2)
    fact = relations[asked]
    question = rng.choice(
        (
            f"What is {fact.direction} of the {fact.reference}?",
            f"What is the {fact.reference} {OPPOSITE[fact.direction]} of?",
        )
    )
    facts = tuple(relation.sentence for relation in relations)
    return [BabiSample("qa4", story, facts, question, fact.subject, (asked,))]


def generate_babi_samples(
    task: str, n_stories: int, seed: int, vocabulary: str = "official"
) -> list[BabiSample]:
    """`n_stories` generated stories of `task` as `BabiSample`s, question by question.

    Deterministic for (task, n_stories, seed, vocabulary) and independent of global
    random state. qa1-qa3 and qa5 stories hold five questions each, qa4 stories one.
    `vocabulary` "varied" draws each story's people, rooms and things from wider
    lists and its verbs from more (`babi_vocabulary.story_vocabulary`).
    """
    check_task(task)
    if vocabulary not in VOCABULARIES:
        raise QragInputError(f"unknown story vocabulary {vocabulary!r}. Fix: use one of {VOCABULARIES}.")
    if isinstance(n_stories, bool) or not isinstance(n_stories, int) or n_stories < 1:
        raise QragInputError(
            f"n_stories must be a whole number of at least 1, got {n_stories!r}. "
            "Fix: set n_stories to how many stories to generate (e.g. 1000)."
        )
    rng = random.Random(seed)
    samples: list[BabiSample] = []
    for story in range(n_stories):
        vocab = story_vocabulary(vocabulary, rng)
        if task == "qa4":
            samples += _relations_story(story, rng, vocab)
        else:
            samples += _world_story(task, story, rng, vocab)
    return samples

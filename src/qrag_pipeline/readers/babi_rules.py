"""A rule-based reader for bAbI tasks qa1-qa5 (Weston et al. 2015, v1.2).

It answers by simulating the small world the sentences describe: people moving between
rooms, getting, dropping and giving objects, and rooms placed relative to each other.
It serves two purposes: an exact reader for the sentences a retriever returned (so a
retrieval's answer accuracy does not depend on a language model), and an oracle that
recomputes the answer and supporting facts of generated stories.

Each sentence is parsed once (cached by its text) into a small event; sentences that
match no official template, such as book sentences mixed into a BabiLong document, are
ignored. The reader is lenient about missing context, because a retriever returns only
a few sentences: "Mary dropped the milk." is enough to know Mary had the milk before.

`support` follows the official labels: the indices of the sentences the answer rests on
(for example qa2 "Where is the milk?" rests on the drop and on the dropper's last move
before it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

from qrag_pipeline.errors import QragInputError
from qrag_pipeline.sources.babi_files import BABI_TASKS, check_task
from qrag_pipeline.sources.babi_vocabulary import (
    OPPOSITE,
    READ_DROP_VERBS,
    READ_GET_VERBS,
    READ_GIVE_VERBS,
    READ_MOVE_VERBS,
)

_NAME = r"[A-Z][a-z]+"
_WORD = r"[a-z]+"
_DIRS = "|".join(OPPOSITE)


@dataclass(frozen=True)
class RuleAnswer:
    """The reader's answer and the indices (ascending) of the sentences it rests on."""

    answer: str | None
    support: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Move:
    """`person` is now in `place` ("Mary went back to the kitchen.")."""

    person: str
    place: str


@dataclass(frozen=True, slots=True)
class Get:
    """`person` now holds `thing` ("John picked up the milk there.")."""

    person: str
    thing: str


@dataclass(frozen=True, slots=True)
class Drop:
    """`person` held `thing` until now and left it where they stand."""

    person: str
    thing: str


@dataclass(frozen=True, slots=True)
class Give:
    """`giver` held `thing` until now; `receiver` holds it from now on."""

    giver: str
    thing: str
    receiver: str


@dataclass(frozen=True, slots=True)
class Relation:
    """Room `subject` lies `direction` of room `reference` (as in qa4)."""

    subject: str
    direction: str
    reference: str


Event = Move | Get | Drop | Give | Relation
HoldingEvent = Get | Drop | Give
"""The events that change who holds a thing."""

_MOVE = re.compile(rf"(?P<person>{_NAME}) (?:{'|'.join(READ_MOVE_VERBS)}) the (?P<place>{_WORD})\.?")
_GET = re.compile(
    rf"(?P<person>{_NAME}) (?:{'|'.join(READ_GET_VERBS)}) the (?P<thing>{_WORD})"
    r"(?: there)?\.?"
)
_DROP = re.compile(
    rf"(?P<person>{_NAME}) (?:{'|'.join(READ_DROP_VERBS)}) the (?P<thing>{_WORD})"
    r"(?: there)?\.?"
)
_GIVE = re.compile(
    rf"(?P<giver>{_NAME}) (?:{'|'.join(READ_GIVE_VERBS)}) the (?P<thing>{_WORD}) "
    rf"to (?P<receiver>{_NAME})\.?"
)
_RELATION = re.compile(
    rf"The (?P<subject>{_WORD}) is (?P<direction>{_DIRS}) "
    rf"of the (?P<reference>{_WORD})\.?"
)
_SENTENCE_FORMS: tuple[tuple[re.Pattern[str], Callable[..., Event]], ...] = (
    (_MOVE, Move),
    (_GET, Get),
    (_DROP, Drop),
    (_GIVE, Give),
    (_RELATION, Relation),
)


@lru_cache(maxsize=65536)
def parse_sentence(sentence: str) -> Event | None:
    """The event a bAbI sentence states, or None for any other sentence.

    Cached because stories grow question by question, so the same sentence is read
    once per later question.
    """
    text = sentence.strip()
    for pattern, event_type in _SENTENCE_FORMS:
        match = pattern.fullmatch(text)
        if match:
            return event_type(**match.groupdict())
    return None


@dataclass(frozen=True, slots=True)
class _Stay:
    """The thing (or person) reached `place` as sentence `since` says.

    `since` is the move that took the carrier there, or for a thing picked up where
    its new carrier stood, the move that had taken the carrier there.
    """

    place: str
    since: int


@dataclass(frozen=True, slots=True)
class _Span:
    """`carrier` held the thing strictly between sentences `first` and `last`.

    `picked_up` says that `first` is a get (or a give to the carrier), so the
    carrier's place at `first` was also the thing's place; otherwise the span is
    inferred from a drop or give whose pick-up the sentences do not show.
    """

    carrier: str
    first: int
    last: int
    picked_up: bool


class _Story:
    """The recognised events of the sentences, with the look-ups the rules share."""

    def __init__(self, sentences: Sequence[str]) -> None:
        self.size = len(sentences)
        self.events = [
            (index, event) for index, event in enumerate(map(parse_sentence, sentences)) if event is not None
        ]

    def place_of(self, person: str, before: int) -> _Stay | None:
        """Where `person` was just before sentence `before`, by their last move."""
        for index, event in reversed(self.events):
            if index < before and isinstance(event, Move) and event.person == person:
                return _Stay(event.place, index)
        return None

    def moves_between(self, person: str, first: int, last: int) -> list[_Stay]:
        """The moves of `person` strictly between sentences `first` and `last`."""
        return [
            _Stay(event.place, index)
            for index, event in self.events
            if first < index < last and isinstance(event, Move) and event.person == person
        ]

    def holding(self, thing: str) -> list[tuple[int, HoldingEvent]]:
        """The events that change who holds `thing`, in story order."""
        return [
            (index, event)
            for index, event in self.events
            if isinstance(event, HoldingEvent) and event.thing == thing
        ]


def _holder_after(event: HoldingEvent) -> str | None:
    """Who holds the thing right after `event` (nobody after a drop)."""
    if isinstance(event, Get):
        return event.person
    return event.receiver if isinstance(event, Give) else None


def _releaser(event: HoldingEvent) -> str | None:
    """Who must have held the thing right before `event` (unknown before a get)."""
    if isinstance(event, Drop):
        return event.person
    return event.giver if isinstance(event, Give) else None


def _carried_spans(holding: list[tuple[int, HoldingEvent]], size: int) -> list[_Span]:
    """Who carried the thing when, from its gets, drops and gives in story order.

    A drop or give whose pick-up is not among the sentences still means the person
    carried the thing since the previous holding event (or the first sentence):
    a retriever often returns the drop without the get.
    """
    spans: list[_Span] = []
    first, holder = -1, None
    for index, event in holding:
        carrier = holder or _releaser(event)
        if carrier is not None:
            spans.append(_Span(carrier, first, index, picked_up=holder is not None))
        first, holder = index, _holder_after(event)
    if holder is not None:
        spans.append(_Span(holder, first, size, picked_up=True))
    return spans


def _track(story: _Story, holding: list[tuple[int, HoldingEvent]]) -> list[_Stay]:
    """The places a thing passed through, in order, each with the fact putting it there.

    A thing moves only while carried, so its track is each carrier's place at the
    pick-up followed by the carrier's moves until the drop; repeats are merged.
    """
    track: list[_Stay] = []
    for span in _carried_spans(holding, story.size):
        start = story.place_of(span.carrier, span.first) if span.picked_up else None
        stays = [start] if start else []
        for stay in stays + story.moves_between(span.carrier, span.first, span.last):
            if not track or track[-1].place != stay.place:
                track.append(stay)
    return track


def _answer(answer: str | None, *support: int) -> RuleAnswer:
    """A `RuleAnswer` with support deduplicated and ascending; empty without answer."""
    if answer is None:
        return RuleAnswer(None, ())
    return RuleAnswer(answer, tuple(sorted(set(support))))


def _where_is_person(story: _Story, person: str) -> RuleAnswer:
    """qa1: a person is where their last move took them."""
    stay = story.place_of(person, story.size)
    return _answer(stay.place, stay.since) if stay else _answer(None)


def _where_is_thing(story: _Story, thing: str) -> RuleAnswer:
    """qa2: a thing is where its last holder stood when dropping it, or stands now.

    The official support is that last get/drop and the holder's last move before
    the drop (or, for a thing still held, the holder's last move so far).
    """
    holding = story.holding(thing)
    if not holding:
        return _answer(None)
    index, event = holding[-1]
    match event:
        case Drop(person=dropper):
            stay = story.place_of(dropper, before=index)
        case Get(person=holder) | Give(receiver=holder):
            stay = story.place_of(holder, before=story.size)
    return _answer(stay.place, index, stay.since) if stay else _answer(None)


def _where_was_thing(story: _Story, thing: str, place: str) -> RuleAnswer:
    """qa3: the place the thing was in before it last reached `place`.

    The official support is the thing's last holding event (even when the question
    is about an earlier part of its track) and the two facts that put it in the two
    places.
    """
    holding = story.holding(thing)
    track = _track(story, holding)
    for later in range(len(track) - 1, 0, -1):
        if track[later].place == place:
            earlier = track[later - 1]
            return _answer(earlier.place, holding[-1][0], earlier.since, track[later].since)
    return _answer(None)


def _room(story: _Story, answer_role: str, **known: str) -> RuleAnswer:
    """qa4: the room in `answer_role` of the latest relation matching `known`.

    "The bedroom is west of the bathroom." also says the bathroom is east of the
    bedroom, so every relation is tried in both directions.
    """
    for index, event in reversed(story.events):
        if not isinstance(event, Relation):
            continue
        flipped = Relation(event.reference, OPPOSITE[event.direction], event.subject)
        for relation in (event, flipped):
            if all(getattr(relation, role) == value for role, value in known.items()):
                return _answer(getattr(relation, answer_role), index)
    return _answer(None)


def _gift(story: _Story, answer_role: str, **known: str) -> RuleAnswer:
    """qa5: the giver, thing or receiver of the latest give matching `known`."""
    for index, event in reversed(story.events):
        if isinstance(event, Give) and all(getattr(event, role) == value for role, value in known.items()):
            return _answer(getattr(event, answer_role), index)
    return _answer(None)


def _form(pattern: str) -> re.Pattern[str]:
    """A question pattern; the files end questions in "?" or "? ", so both match."""
    return re.compile(pattern + r" ?\??")


_Rule = Callable[..., RuleAnswer]
_QUESTION_FORMS: dict[str, tuple[tuple[re.Pattern[str], _Rule], ...]] = {
    "qa1": ((_form(rf"Where is (?P<person>{_NAME})"), _where_is_person),),
    "qa2": ((_form(rf"Where is the (?P<thing>{_WORD})"), _where_is_thing),),
    "qa3": (
        (
            _form(rf"Where was the (?P<thing>{_WORD}) before the (?P<place>{_WORD})"),
            _where_was_thing,
        ),
    ),
    "qa4": (
        (
            _form(rf"What is (?P<direction>{_DIRS}) of the (?P<reference>{_WORD})"),
            partial(_room, answer_role="subject"),
        ),
        (
            _form(rf"What is the (?P<subject>{_WORD}) (?P<direction>{_DIRS}) of"),
            partial(_room, answer_role="reference"),
        ),
    ),
    "qa5": (
        (
            _form(rf"Who gave the (?P<thing>{_WORD})"),
            partial(_gift, answer_role="giver"),
        ),
        (
            _form(rf"Who received the (?P<thing>{_WORD})"),
            partial(_gift, answer_role="receiver"),
        ),
        (
            _form(rf"What did (?P<giver>{_NAME}) give to (?P<receiver>{_NAME})"),
            partial(_gift, answer_role="thing"),
        ),
        (
            _form(rf"Who gave the (?P<thing>{_WORD}) to (?P<receiver>{_NAME})"),
            partial(_gift, answer_role="giver"),
        ),
        (
            _form(rf"Who did (?P<giver>{_NAME}) give the (?P<thing>{_WORD}) to"),
            partial(_gift, answer_role="receiver"),
        ),
    ),
}


def answer_babi_question(task: str, sentences: Sequence[str], question: str) -> RuleAnswer:
    """Answer a qa1-qa5 `question` from `sentences`, with the indices it rests on.

    Sentences that are not bAbI facts are skipped; `answer` is None (and `support`
    empty) when the recognised facts do not determine the answer. An unknown task or
    a question form outside `task` raises `QragInputError`.
    """
    check_task(task)
    text = question.strip()
    for pattern, rule in _QUESTION_FORMS[task]:
        match = pattern.fullmatch(text)
        if match:
            return rule(_Story(sentences), **match.groupdict())
    raise QragInputError(
        f"bAbI {task} question {question!r} has a form the rule reader does not know. "
        f"Fix: ask one of the official {task} ({BABI_TASKS[task]}) question forms."
    )

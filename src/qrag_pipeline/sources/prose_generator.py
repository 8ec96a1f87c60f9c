"""Built-in distractor prose: seeded, offline, and free of bAbI vocabulary.

When no books folder is given, BabiLong-style documents still need long background
text to hide a story in. This module writes it from sentence templates whose slots
are filled from word lists about weather, landscapes, trades, crafts, feelings,
animals, plants and local history, with an optional trailing clause, so that
sentences run from 8 to 30 words and a 40,000-sentence document repeats itself
rarely (about 0.05% of its sentences are repeats; the tests bound it at 0.5%).

Two rules keep the distractors honest:
- No bAbI word appears: no people's names at all (only trades and roles), none of the
  bAbI rooms or objects, no compass directions, and none of the bAbI verbs of moving
  or handing over (went, moved, journeyed, travelled, took, got, grabbed, picked up,
  dropped, discarded, left, gave, handed, passed). A distractor therefore never
  states, or seems to state, a fact a bAbI question could ask about.
- Training and test prose share no source: every slot's word list is split by
  position, the even-indexed entries for `split="train"` and the odd-indexed ones
  for `split="test"`. Templates are shared but every one has slots, so the two
  splits fill them with different words and write different sentences (checked on
  40,000 sentences per split in the tests).
"""

from __future__ import annotations

import random
import re
from collections import Counter

from qrag_pipeline.errors import QragInputError

SPLITS = ("train", "test")
MAX_WORDS = 30
TAIL_PROBABILITY = 0.45

_SLOT = re.compile(r"\{(\w+)\}")
_ARTICLE_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeiou])")

# fmt: off
_VOCABULARY: dict[str, tuple[str, ...]] = {
    "role": (
        "ferryman", "weaver", "miller", "blacksmith", "shepherd", "potter",
        "clockmaker", "innkeeper", "fisherman", "carpenter", "glassblower",
        "bookbinder", "cooper", "stonemason", "tailor", "baker", "chandler", "saddler",
        "tanner", "lamplighter", "cartographer", "beekeeper", "stonecutter",
        "boatwright", "herbalist", "printer", "locksmith", "wheelwright", "ropemaker",
        "schoolmaster", "surveyor", "organist", "vintner", "thatcher", "falconer",
        "apothecary", "peddler", "harbourmaster", "archivist", "watchmaker",
    ),
    "trait": (
        "old", "young", "patient", "weary", "cheerful", "silent", "stubborn",
        "careful", "restless", "thoughtful", "gentle", "proud", "quiet", "elderly",
        "nimble", "solemn", "humble", "curious", "grey-haired", "soft-spoken",
        "sharp-eyed", "broad-shouldered", "absent-minded", "good-natured",
        "long-legged", "sleepy", "talkative", "stern", "kindly", "cautious",
    ),
    "place": (
        "harbour", "valley", "marsh", "moor", "ridge", "river bend", "mill pond",
        "lighthouse", "quarry", "orchard", "vineyard", "meadow", "market square",
        "chapel", "old bridge", "causeway", "forest edge", "fen", "heath", "estuary",
        "headland", "cliff path", "pine wood", "salt flat", "ford", "dune", "lagoon",
        "glacier", "canyon", "plateau", "cloister", "granary", "boatyard",
        "village green", "high pasture", "riverbank", "towpath", "observatory",
        "weir", "sheepfold",
    ),
    "weather": (
        "the fog", "a cold wind", "the rain", "the first snow", "a grey mist",
        "the evening haze", "a sea breeze", "the autumn gale", "a warm drizzle",
        "the frost", "the thunder", "the hail", "the sleet", "a dust storm",
        "the summer heat", "the morning dew", "a squall", "the low cloud",
        "a thin rain", "the spring wind",
        "a hard frost", "the drifting snow", "a sudden downpour", "the heat haze",
        "a fierce gale", "the wet spring wind", "a freezing fog", "the noon sun",
        "a soft rain", "the sea fog",
    ),
    "drift": (
        "drifted over", "settled on", "rolled across", "lingered above",
        "swept along", "hung over", "clung to", "spread across", "gathered above",
        "lay upon", "blew across", "beat against", "crept along", "rested on",
        "poured over", "whispered through",
        "curled around", "drove across", "fell upon", "settled over", "sank into",
        "wrapped around", "lifted from", "pressed against",
    ),
    "time": (
        "at dawn", "before noon", "late in the afternoon", "towards evening",
        "after midnight", "on the first morning of spring",
        "in the grey hour before sunrise",
        "during the long winter nights", "at the turn of the tide", "on market days",
        "in the dry season", "on feast days", "at the end of the harvest",
        "in the weeks before the thaw", "on clear nights", "in the heat of midday",
        "whenever the bells rang", "on the shortest day of the year",
        "just before the rain", "on Sunday mornings", "in the first week of the fair",
        "when the lamps were lit", "long after the others had gone home",
        "at the change of the watch", "on the evening of the feast",
        "in the lull between storms", "at first light", "at dusk", "on foggy mornings",
        "in the small hours",
    ),
    "season": (
        "spring", "summer", "autumn", "winter", "midwinter", "midsummer",
        "early spring", "late summer", "late autumn", "high summer", "deep winter",
        "early autumn",
    ),
    "feeling": (
        "a quiet contentment", "an old sorrow", "a sudden restlessness",
        "a deep unease", "a stubborn hope", "a faint nostalgia", "a calm gratitude",
        "a dull homesickness", "a vague dread", "a childlike wonder",
        "a calm resolve", "an unexpected tenderness", "a growing impatience",
        "a private pride", "a gentle melancholy", "a great relief",
        "a lively curiosity", "an aching longing", "a hidden shame",
        "a mild amusement",
        "a sharp regret", "a weary patience", "a secret joy", "a cold anger",
        "a mild envy", "a sudden hope", "a warm affection", "a strange calm",
        "a lingering doubt", "a deep contentment",
    ),
    "material": (
        "oak", "walnut", "copper", "brass", "pewter", "willow", "silver", "bone",
        "horn", "ash", "cedar", "tin", "bronze", "leather", "porcelain", "glass",
        "wrought iron", "birch", "pine", "elm", "beech", "maple", "cherry wood",
        "rosewood", "ebony", "boxwood", "mahogany", "ivory", "driftwood", "marble",
    ),
    "craft": (
        "lantern", "spinning wheel", "barrel", "hand loom", "compass", "violin",
        "chest", "clock", "jewellery box", "sundial", "weathervane", "rowing boat",
        "fiddle", "bell", "cabinet", "chess set", "music box", "telescope",
        "rocking chair", "hourglass",
        "tankard", "candlestick", "map case", "bookcase", "cradle", "harp", "flute",
        "mirror frame", "gate latch", "writing desk",
    ),
    "animal": (
        "heron", "fox", "otter", "hare", "badger", "kestrel", "curlew", "owl",
        "wren", "stag", "trout", "salmon", "lark", "swallow", "raven", "magpie",
        "pike", "beetle", "moth", "seal", "gull", "cormorant", "lapwing", "plover",
        "weasel", "hedgehog", "mule", "ox", "goat", "pony",
    ),
    "plant": (
        "heather", "bracken", "gorse", "foxgloves", "thistles", "hawthorn", "birches",
        "alders", "ivy", "moss", "lichen", "brambles", "poppies", "lavender",
        "rosemary", "nettles", "clover", "sorrel", "yews", "chestnuts", "rowans",
        "juniper", "elderflowers", "wild thyme",
        "meadowsweet", "bluebells", "hazel", "blackthorn", "honeysuckle", "cowslips",
    ),
    "history": (
        "the old toll road", "the great flood", "the great fire",
        "the first printing press in the district", "the building of the canal",
        "the long drought", "the siege", "the plague years",
        "the opening of the railway", "the collapse of the wool trade",
        "the founding of the abbey", "the last great fair", "the silver rush",
        "the draining of the fens", "the storm that sank the fleet",
        "the coming of the telegraph", "the closing of the mines",
        "the famine winter",
        "the year of the comet", "the wreck of the grain ship", "the cholera summer",
        "the great frost fair", "the burning of the tithe barn",
        "the failure of the bank", "the arrival of the weavers' guild",
        "the last wolf hunt", "the breaking of the dam", "the coronation festival",
        "the smallpox winter", "the enclosure of the common",
    ),
    "era": (
        "in the twelfth century", "three hundred years ago",
        "in the reign of a forgotten king", "long before the railway came",
        "in the years after the famine", "when the river still ran clear",
        "in the days of sail", "before the first map of the coast was drawn",
        "in the age of the guilds", "when the abbey still owned the land",
        "two generations ago", "in the time of the salt merchants",
        "in the years of the great storms", "before the common was enclosed",
        "in the time of the old bishops", "when wolves still roamed the hills",
        "in the century of the long wars", "before the turnpike was built",
        "in the last years of the old queen", "when the harbour was still deep",
        "in the days of the stagecoach", "a thousand years ago",
        "in the time of the pilgrims", "when forests still covered the valley",
    ),
    "sound": (
        "the creak of timber", "the toll of a distant bell", "the cry of gulls",
        "the hum of bees", "the rattle of cart wheels", "the murmur of the stream",
        "the clatter of hooves", "the rustle of dry leaves", "the tapping of a loom",
        "the ringing of an anvil", "the slap of water against the hull",
        "the groan of the mill wheel", "a fiddle tune", "the bark of a dog",
        "the patter of rain on slate", "the song of a blackbird",
        "the crackle of the fire", "the chime of the church clock",
        "the bleating of sheep", "the creak of a gate", "the shouts of the boatmen",
        "the drone of the bagpipes", "the scrape of a shovel", "the splash of oars",
        "the laughter of children", "the clang of the smithy",
        "the hoot of a ferry horn", "the sighing of the reeds",
        "the cries of the market sellers", "the squeal of a pulley",
    ),
    "colour": (
        "amber", "slate-grey", "rust-red", "pale gold", "deep green", "ochre",
        "silver-blue", "ash-white", "violet", "copper-brown", "dun", "indigo",
        "rose-pink", "smoky blue", "olive", "honey-coloured",
        "sea-green", "chalk-white", "crimson", "tawny", "mauve", "russet", "jade",
        "sooty black",
    ),
    "light": (
        "the low sun", "the lamplight", "the moonlight", "the last light of day",
        "the firelight", "the starlight", "the glow of the forge", "the candlelight",
        "the winter sunlight", "the lightning",
        "the dusk", "the pale dawn light", "the lantern light", "the glare of noon",
        "the afterglow", "the torchlight", "the grey morning light", "the red sunset",
        "the reflected light of the snow", "the flicker of the hearth",
    ),
    "goods": (
        "salted fish", "dyed cloth", "barley", "honey", "tallow", "lamp oil",
        "copper nails", "rope", "pepper", "raw silk", "tobacco", "cider",
        "dried figs", "wax candles", "charcoal", "earthenware", "raw wool",
        "smoked eels", "malt", "indigo dye",
        "barrels of tar", "oats", "linseed", "saffron", "whale oil", "slate tiles",
        "dried cod", "pewter plates", "woven rugs", "flour",
    ),
    "town": (
        "Harrowby", "Wellsmere", "Dunmoor", "Kettering Cross", "Ashcombe",
        "Saltridge", "Fennick", "Oldhaven", "Bramblecote", "Stonyford",
        "Merrow", "Caldbeck", "Larkspur Bay", "Thornwick", "Greyholm", "Elverby",
        "Coldwater", "Pennick", "Rushford", "Hollins", "Ravensby", "Marlow End",
        "Eskdale", "Brackwater", "Wyndham", "Tarnside", "Ambleford", "Cresswell",
        "Hartmoor", "Linthorpe", "Sedgecombe", "Whitlow",
    ),
    "quality": (
        "plain", "weathered", "delicate", "sturdy", "elegant", "crooked",
        "beautiful", "heavy", "worn", "handsome", "fragile", "ancient", "polished",
        "simple", "ornate", "lopsided",
        "battered", "gleaming", "chipped", "gilded", "faded", "rough-hewn",
        "finely made", "graceful",
    ),
    "number": (
        "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "twelve", "fifteen", "twenty", "forty", "a hundred",
        "eleven", "thirty", "fifty", "sixty", "eighty", "two hundred",
    ),
}
# fmt: on

_TEMPLATES: tuple[str, ...] = (
    "{weather} {drift} the {place} {time}, and the {trait} {role} watched it from the doorway.",
    "{time}, {weather} {drift} the {place} and the {animal} fell silent.",
    "The {trait} {role} had spent {number} years mending every {craft} in {town}.",
    "Not even the {trait} {role} of {town} could remember {season} being as hard as it was after {history}.",
    "{era}, every {role} in {town} paid the rent in {goods} and {goods}.",
    "The records of {town} show that {number} carts of {goods} came from the {place} {era}.",
    "The old chronicles of {town} mention {history} only once, in a {quality} line "
    "written by a {role} from the {place}.",
    "{light} fell across the {place} {time}, and for a moment the {plant} looked {colour}.",
    "The {trait} {role} said that {history} had changed the {place} more than anything {era}.",
    "The {place} near {town} had been famous {era} for its {goods}, though one {role} still traded there.",
    "Old letters describe the {place} near {town} as lonely, full of {sound} {time}.",
    "{sound} carried across the {place} {time}, and the {trait} {role} stopped to listen.",
    "{sound} woke the {trait} {role} {time}.",
    "The {trait} {role} of {town} disliked {weather}.",
    "{weather} {drift} the {place} {time}.",
    "The {place} near {town} smelled of {plant} {time}.",
    "A {trait} {role} from {town} lived alone by the {place}.",
    "In {season} the slopes above the {place} at {town} were covered with {plant}, {colour} against the sky.",
    "The {trait} {role} felt {feeling} whenever {sound} reached the {place}.",
    "A {quality} {craft} of {material} stood by the window, its surface {colour} in {light}.",
    "The {role} of {town} kept a {craft} that had belonged to a {role} {era}.",
    "Each year in {season} the {role} bought {goods} and {goods} at the fair in {town}.",
    "A {animal} crossed the {place} {time}, unhurried, while the {trait} {role} looked on.",
    "The {trait} {role} of {town} believed that {weather} always came after {sound}.",
    "There was {feeling} in the way the {trait} {role} of {town} spoke about {history}.",
    "The path from {town} to the {place} wound between {plant} and {plant} for {number} miles.",
    "The {trait} {role} worked the {material} slowly, the way every {role} in {town} had always done.",
    "Children from {town} came to the {place} {time} in {season} to look for the {animal}.",
    "Under {light}, the {trait} {role} found the {place} beyond {town} wider and stiller than by day.",
    "{weather} kept the boats at the {place} for {number} days, and the price of {goods} rose in {town}.",
    "The {trait} {role} hummed a tune while mending a {quality} {craft} of {material}.",
    "A {trait} {role} and a {trait} {role} argued for an hour about the best way to store {goods}.",
    "Beyond the {place} lay fields of {plant} and {plant}, and beyond them the {colour} roofs of {town}.",
    "The {trait} {role}'s hands were stained {colour} after a long day at the {place} {time}.",
    "In {town}, {season} was the time when the {role} repaired every {craft} and {craft} in the parish.",
    "The {animal} and the {animal} had both returned to the {place} near {town} by the end of {season}.",
    "Some say {history} began with a quarrel between a {trait} {role} and a {role} of {town}.",
    "The {quality} inn by the {place} was rebuilt {era}, after {history}.",
    "{sound} was the first thing the {trait} {role} noticed on reaching {town} {time}.",
    "She remembered the {place} at {town} in {season}, the {plant}, and {feeling} that came with it.",
    "The {trait} {role} had never seen {weather} like it at the {place}, not even after {history}.",
    "Along the {place} outside {town} the {plant} had come into flower by {season}, "
    "and the air smelled of {plant}.",
    "The museum in {town} keeps a {quality} {craft} made of {material} and {material}.",
    "The {role} saw the same {animal} on the {place} {number} times that {season}.",
    "For {number} generations the same family in {town} had kept the {material} "
    "{craft} at the {place} in good repair.",
    "{time}, the {trait} {role} would sit by the {place} and listen to {sound}.",
    "What the {trait} {role} felt, looking at the {place} {time}, was {feeling} more than grief.",
    "The {role} traded a {craft} of {material} for {number} loads of {goods}.",
    "The hills between {town} and {town} turn {colour} in {season}, when the last of the {plant} has faded.",
    "A {quality} {craft} of {material} hung above the door of the {role}'s workshop in {town}.",
)

_TAILS: tuple[str, ...] = (
    "as {weather} {drift} the {place}",
    "while {sound} drifted up from the {place}",
    "though no {role} in {town} ever spoke of it",
    "and the {trait} {role} said nothing more about it",
    "much as it had for every {role} {era}",
    "with {feeling} that lasted until {season}",
    "and {light} made the {material} {craft} glow",
    "just as the {animal} began to call from the {plant}",
    "long after {history} was forgotten in {town}",
    "until the {plant} on the {place} had faded",
    "for reasons no {role} in {town} ever explained",
    "and a {animal} watched from the {plant}",
)


def generate_prose(
    n_documents: int, sentences_per_document: int, seed: int, split: str = "train"
) -> dict[str, list[str]]:
    """`n_documents` documents of `sentences_per_document` sentences: name -> sentences.

    The same (counts, seed, split) always gives the same text. `split` picks the
    half of every word list (even positions for "train", odd for "test"), so the two
    splits share no slot word; document names carry the split too, so that
    `check_disjoint_sources` accepts the pair.
    """
    _check_positive("n_documents", n_documents)
    _check_positive("sentences_per_document", sentences_per_document)
    vocabulary = _split_vocabulary(split)
    rng = random.Random(seed)
    return {
        f"prose-{split}-{index:04d}": [_sentence(rng, vocabulary) for _ in range(sentences_per_document)]
        for index in range(n_documents)
    }


def _check_positive(name: str, value: int) -> None:
    """Refuse counts that would silently build documents without distractors."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise QragInputError(
            f"{name}={value!r} must be a positive whole number. Fix: set {name} to 1 "
            "or more in data_prep.distractors."
        )


def _split_vocabulary(split: str) -> dict[str, tuple[str, ...]]:
    """Each slot's words at even positions (train) or odd positions (test)."""
    if split not in SPLITS:
        raise QragInputError(
            f"unknown prose split {split!r}. Fix: use one of {SPLITS}, so that "
            "training and test prose come from disjoint vocabularies."
        )
    parity = SPLITS.index(split)
    return {slot: words[parity::2] for slot, words in _VOCABULARY.items()}


def _sentence(rng: random.Random, vocabulary: dict[str, tuple[str, ...]]) -> str:
    """One sentence: a filled template (8 words or more by construction), sometimes
    extended by a clause when the result stays within `MAX_WORDS`."""
    main = _fill(rng.choice(_TEMPLATES), rng, vocabulary)
    if rng.random() < TAIL_PROBABILITY:
        tail = _fill(rng.choice(_TAILS), rng, vocabulary)
        extended = f"{main[:-1]}, {tail}."
        if len(extended.split()) <= MAX_WORDS:
            main = extended
    return _ARTICLE_BEFORE_VOWEL.sub(r"\1n ", main[0].upper() + main[1:])


def _fill(template: str, rng: random.Random, vocabulary: dict[str, tuple[str, ...]]) -> str:
    """`template` with its slots filled; a slot used twice gets two different words
    ("the heron and the otter", never "the heron and the heron")."""
    picks = {
        slot: rng.sample(vocabulary[slot], count) for slot, count in Counter(_SLOT.findall(template)).items()
    }
    return _SLOT.sub(lambda slot: picks[slot.group(1)].pop(), template)

"""The official bAbI v1.2 vocabulary of tasks qa1-qa5 (measured on the official files).

The generator writes with it and the rule-based reader parses with it, so both speak
exactly the official language; the generator's tests check it against the files.
"""

PEOPLE = ("Mary", "John", "Daniel", "Sandra")
QA5_PEOPLE = ("Fred", "Bill", "Jeff", "Mary")
PLACES = ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")
THINGS = ("apple", "football", "milk")
MOVE_VERBS = ("moved to", "went to", "went back to", "journeyed to", "travelled to")
GET_VERBS = ("got", "grabbed", "picked up", "took")
DROP_VERBS = ("dropped", "discarded", "put down", "left")
GIVE_VERBS = ("gave", "handed", "passed")
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}

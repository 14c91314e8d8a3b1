"""Data and metrics for bench_recall.py: long conversations with planted facts, one shape.

Every loader returns a :class:`Dataset`: conversations (turns with ids, in order) and
questions asked at the end, each naming its evidence turns. :data:`LOADERS` maps a
``--dataset`` name to its loader; add one with ``@loader("name")``.

- ``synthetic`` (the default): :func:`generate`, seeded and deterministic. Each
  conversation is chit-chat with planted facts ("My sister's name is Priya"),
  distractors that share the facts' words (other people's sisters, other levels,
  other flights), facts that change later (the newest statement is the evidence; the
  older one is recorded as ``superseded``), and one question per fact, worded
  differently from the statement: half share one word with it (and with its
  distractors: "Which level is my car on?"), half share none ("Which floor of the
  parking structure is my vehicle on?").
  Every answer string appears in its evidence turn and nowhere else in the
  conversation (checked), so "the answer is in the window or the summary" is a fair
  test for a memory without search.
- ``locomo``: LoCoMo (Maharana et al., ACL 2024) read from a local path, never shipped
  nor downloaded here: a folder of one JSON file per conversation (the development half
  beside this repository, ``../shared/data/locomo-dev``), or the authors' single
  ``locomo10.json``. Each turn is stored as that folder's README says (the measure the
  independent check uses): role Human for ``speaker_a``, AI for ``speaker_b``, content
  ``"<speaker>: <text>"`` plus ``" [shares a photo of <caption>]"``, metadata
  ``{"dia_id", "date"}``; every category by default (5 is adversarial).

Metrics (:func:`score`): for a ranking of turn ids, recall@k is the fraction of the
evidence turns in the top k (one evidence turn: hit or miss), the reciprocal rank is
1/rank of the first evidence turn (0 when absent), and ``stale`` marks a changed fact
whose older statement ranks above the newest (or is found while the newest is not).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

KS = (1, 5, 10)


# -- the shape every loader returns ------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    id: str
    role: str  # "Human" | "AI"
    content: str
    metadata: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Question:
    text: str
    evidence: tuple[str, ...]  # turn ids; for a changed fact, the newest statement only
    answer: str | None  # the distinctive answer string (the baseline looks for it)
    kind: str  # "static" / "changed" (synthetic), "category N" (LoCoMo)
    superseded: tuple[str, ...] = ()  # older statements of a changed fact
    style: str = ""  # synthetic: "shared word" or "paraphrase" (no word of the statement)


@dataclass
class Conversation:
    id: str
    turns: list[Turn]
    questions: list[Question]


@dataclass
class Dataset:
    name: str
    conversations: list[Conversation]
    notes: list[str] = field(default_factory=list)


@dataclass
class Options:
    seed: int = 7
    conversations: int = 6
    messages: int = 600
    facts: int = 12
    distractors: int = 4
    change: float = 0.4  # fraction of changeable facts that change later
    recent: int = 60  # nothing planted among the newest `recent` messages
    path: str | None = None
    categories: tuple[int, ...] = (1, 2, 3, 4, 5)


Loader = Callable[[Options], Dataset]
LOADERS: dict[str, Loader] = {}


def loader(name: str) -> Callable[[Loader], Loader]:
    def register(fn: Loader) -> Loader:
        LOADERS[name] = fn
        return fn

    return register


# -- metrics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    recall: dict[int, float]  # k -> fraction of evidence in the top k
    rr: float  # reciprocal rank of the first evidence turn
    stale: bool  # an older statement outranks the newest (changed facts)


def score(ranked: Sequence[str], evidence: Iterable[str], superseded: Iterable[str] = (),
          ks: Sequence[int] = KS) -> Score:
    evidence = set(evidence)
    if not evidence:
        raise ValueError("a question needs at least one evidence turn")
    position = {}
    for rank, turn_id in enumerate(ranked, 1):
        position.setdefault(turn_id, rank)
    found = [position[e] for e in evidence if e in position]
    first = min(found, default=None)
    recall = {k: sum(1 for r in found if r <= k) / len(evidence) for k in ks}
    old = min((position[s] for s in superseded if s in position), default=None)
    stale = old is not None and (first is None or old < first)
    return Score(recall, 1.0 / first if first else 0.0, stale)


@dataclass
class Totals:
    """Means over questions of one method."""

    ks: Sequence[int] = KS
    n: int = 0
    recall: dict[int, float] = field(default_factory=dict)
    rr: float = 0.0
    changed: int = 0
    stale: int = 0

    def add(self, s: Score, changed: bool = False) -> None:
        self.n += 1
        for k in self.ks:
            self.recall[k] = self.recall.get(k, 0.0) + s.recall[k]
        self.rr += s.rr
        if changed:
            self.changed += 1
            self.stale += s.stale

    def at(self, k: int) -> float:
        return self.recall.get(k, 0.0) / self.n if self.n else 0.0

    @property
    def mrr(self) -> float:
        return self.rr / self.n if self.n else 0.0

    @property
    def stale_rate(self) -> float | None:
        return self.stale / self.changed if self.changed else None


def answer_in(answer: str, texts: Iterable[str]) -> bool:
    """Whether ``answer`` appears in any text as whole words, ignoring case."""
    pattern = answer_pattern(answer)
    return any(pattern.search(t) for t in texts)


def answer_pattern(answer: str) -> re.Pattern[str]:
    edge_l = r"\b" if answer[:1].isalnum() else ""
    edge_r = r"\b" if answer[-1:].isalnum() else ""
    return re.compile(edge_l + re.escape(answer) + edge_r, re.IGNORECASE)


# -- the synthetic generator ---------------------------------------------------------------


@dataclass(frozen=True)
class FactType:
    key: str
    values: tuple[str, ...]  # answer strings, each distinctive
    says: tuple[str, ...]  # the statement, with {v}
    asks: tuple[str, ...]  # the question, a paraphrase sharing no word with the statement
    asks_words: tuple[str, ...]  # the question sharing a word with it (and the distractors)
    others: tuple[str, ...]  # distractors, with {x} (another value) and maybe {who}
    updates: tuple[str, ...] = ()  # non-empty: the fact can change later


def _pool(rng: random.Random, make: Callable[[random.Random], str], n: int) -> tuple[str, ...]:
    out: dict[str, None] = {}
    while len(out) < n:
        out.setdefault(make(rng), None)
    return tuple(out)


_VALUES = random.Random(20240613)  # the value pools are fixed: part of the benchmark
_WORDS = ("maple", "otter", "quartz", "lantern", "pepper", "harbor", "velvet", "cobalt",
          "meadow", "falcon", "cinder", "tulip")
_STREETS = ("Birch Lane", "Harbour Road", "Quarry Street", "Orchard Close", "Mill Road",
            "Fennel Way", "Copper Street", "Wren Avenue")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")

FACTS: tuple[FactType, ...] = (
    FactType(
        "sister",
        ("Priya", "Ingrid", "Marisol", "Keiko", "Oksana", "Beatriz", "Niamh", "Yasmin",
         "Thandiwe", "Solveig"),
        ("My sister's name is {v}, she's two years older than me.",
         "I should call my sister {v} tonight, it's been weeks."),
        ("What's my sibling called?", "Remind me of my older sibling's name?"),
        ("What's my sister called?", "Remind me of my sister's name?"),
        ("{who}'s sister {x} just started university.",
         "My friend has a sister named {x} who works in Oslo.",
         "There was a nurse called {x} at the clinic, lovely person."),
    ),
    FactType(
        "parking",
        tuple(f"level {n}" for n in range(1, 10)),
        ("I parked on {v} of the airport garage, near the lifts.",
         "Leaving the car on {v} of the mall car park today."),
        ("Which floor of the parking structure is my vehicle on?",
         "Where did I end up leaving the car?"),
        ('Where did I park the car?', 'Which level is my car on?'),
        ("{who} always parks on {x}.", "The lift in the garage only goes up to {x}.",
         "I finally beat {x} of that puzzle game."),
        ("Had to move the car earlier, it's on {v} now.",
         "Security made me re-park, the car is on {v} now."),
    ),
    FactType(
        "flight",
        _pool(_VALUES, lambda r: f"{r.choice(['BA', 'LH', 'AF', 'KL', 'IB', 'AY', 'SK'])} "
                                 f"{r.randint(100, 999)}", 12),
        ("My flight is {v} on the 14th, leaving in the morning.",
         "Booked it: I'm flying out on {v} next Friday."),
        ("Which plane am I catching for my trip?",
         "What's the number of the service I'm travelling on?"),
        ("What's my flight number?", 'Which flight am I on?'),
        ("{who} is on {x} the same day.", "The news said {x} was delayed by four hours.",
         "Flight {x} to Madrid got diverted yesterday."),
        ("The airline cancelled and rebooked me onto {v}.",
         "Changed my ticket, I'm now on {v}."),
    ),
    FactType(
        "dentist",
        _pool(_VALUES, lambda r: f"{r.choice(_DAYS)} at {r.randint(8, 17)}:"
                                 f"{r.choice(['00', '15', '30', '45'])}", 12),
        ("My dentist appointment is {v}.", "Booked a cleaning at the dental clinic for {v}."),
        ("When do I have to go get my teeth checked?",
         "What time is my next checkup for my teeth?"),
        ('When is my dentist appointment?', 'When do I see the dentist?'),
        ("{who} has a dentist appointment {x}.", "The spin class is {x} this week.",
         "Our team sync moved to {x}."),
        ("The dentist's office called and moved me to {v}.",
         "Dentist rescheduled me, it's {v} now."),
    ),
    FactType(
        "wifi",
        _pool(_VALUES, lambda r: f"{r.choice(_WORDS)}-{r.choice(_WORDS)}-{r.randint(10, 99)}",
              12),
        ("The wifi password at home is {v}.", "Router got reset, home network password: {v}."),
        ("What do guests type to get online at my house?",
         "How do I connect to the internet at my place?"),
        ("What's the wifi password at home?", "What's my home network password?"),
        ("The café's wifi password is {x}.", "At the office the guest network uses {x}.",
         "My parents' router password is {x}, don't ask."),
        ("Changed the home wifi password again, it's {v} now.",
         "New router, new password at home: {v}."),
    ),
    FactType(
        "dog",
        ("Biscuit", "Pepperoni", "Juno", "Waffles", "Mochi", "Tank", "Nugget", "Pretzel",
         "Clementine", "Bruno"),
        ("We adopted a dog last spring, we named him {v}.",
         "{v}, our beagle, chewed through another shoe today."),
        ("What is our pet called?", "What's the name of the animal we adopted?"),
        ("What's our dog's name?", 'What did we name the dog?'),
        ("The neighbours' dog {x} barks all night.", "{who} adopted a cat named {x}.",
         "There's a café downtown called {x}'s."),
    ),
    FactType(
        "allergy",
        ("penicillin", "shellfish", "sesame", "latex", "kiwi", "walnuts", "ibuprofen",
         "buckwheat"),
        ("Just so you know, I'm allergic to {v}, it gives me hives.",
         "The doctor confirmed my allergy to {v}."),
        ("Is there anything I react badly to?",
         "What should I avoid because of my immune reaction?"),
        ('What am I allergic to?', "What's my allergy?"),
        ("{who} is allergic to {x}.", "The menu warned that the curry contains {x}.",
         "We're out of {x} at the shop again."),
    ),
    FactType(
        "locker",
        _pool(_VALUES, lambda r: f"locker {r.randint(100, 399)}", 12),
        ("At the gym I use {v}, the combination is on my keychain.",
         "At the pool I always use {v}."),
        ("Where do I keep my stuff at the fitness centre?",
         "Which cubby is mine when I work out?"),
        ('Which locker is mine at the gym?', "What's my gym locker?"),
        ("Someone left a wet towel in {x}.", "{who} has {x}, right next to the showers."),
        ("They reassigned lockers at the gym, mine is {v} now.",),
    ),
    FactType(
        "blood",
        ("O negative", "AB positive", "A negative", "B positive", "AB negative",
         "B negative", "A positive", "O positive"),
        ("My blood type is {v}, they told me at the donation drive.",
         "Donated blood today, turns out I'm {v}."),
        ("What's my blood group?", "Which group do the hospital records say I belong to?"),
        ("What's my blood type?", 'Which blood type am I?'),
        ("The blood bank is short on {x} this month.", "My dad's blood type is {x}.",
         "{who} found out they're {x}."),
    ),
    FactType(
        "address",
        _pool(_VALUES, lambda r: f"{r.randint(2, 98)} {r.choice(_STREETS)}", 12),
        ("I live at {v}, the blue door.", "My address is {v}, for the delivery."),
        ("Where is my home these days?", "Where should a parcel for me be sent?"),
        ("What's my address?", 'Where do I live now?'),
        ("The party is at {x} on Saturday.", "{who} lives at {x}.",
         "There's a new bakery at {x}."),
        ("We moved! The new place is {v}.", "Finally moved apartments, I'm at {v} now."),
    ),
    FactType(
        "manager",
        ("Henrik Dahl", "Amara Osei", "Lucia Ferri", "Tomasz Nowak", "Grace Whitfield",
         "Rahul Mehta", "Yuki Tanaka", "Dmitri Volkov", "Carmen Ruiz", "Olu Adeyemi"),
        ("My manager is {v}, pretty relaxed about deadlines.",
         "Had my one-on-one with my manager {v} today."),
        ("Who is my boss at work?", "Who do I answer to at my job?"),
        ("Who's my manager?", 'Who do I report to?'),
        ("{x} manages the marketing team.", "{who}'s manager {x} quit last week.",
         "I had lunch with {x} from finance."),
        ("After the reorg I report to {v} now.", "New manager as of this week: {v}."),
    ),
    FactType(
        "car",
        ("Subaru Outback", "Volvo V60", "Honda Civic", "Mazda CX-5", "Skoda Octavia",
         "Toyota Prius", "Kia Niro", "Ford Fiesta"),
        ("I drive a {v}, it's old but reliable.", "Took my {v} in for a service today."),
        ("What kind of vehicle do I own?", "Which model of automobile is mine?"),
        ('What car do I drive?', 'What do I drive?'),
        ("{who} drives a {x}.", "Test drove a {x} just for fun.",
         "The rental company gave us a {x}."),
    ),
    FactType(
        "coffee",
        ("oat flat white", "double cortado", "iced americano", "chai latte",
         "decaf cappuccino", "caramel macchiato", "soy mocha", "cold brew"),
        ("My usual coffee order: {v}.", "If you ever grab me a coffee, get me the {v}."),
        ("What should someone get me at the café?",
         "What's my go-to drink from the espresso bar?"),
        ("What's my usual coffee order?", 'How do I take my coffee?'),
        ("{who} always orders the {x}.", "The café ran out of milk so no {x} today.",
         "Tried the {x} once, never again."),
        ("Switched my coffee order, I'm on the {v} these days.",),
    ),
    FactType(
        "teacher",
        ("Mrs Okafor", "Mr Lindqvist", "Ms Haddad", "Mr Castellano", "Mrs Brennan",
         "Ms Nakamura", "Mr Abernathy", "Ms Petrova"),
        ("My daughter's teacher is {v}, very strict.",
         "Parent evening with {v}, my daughter's form teacher."),
        ("Who teaches my kid's class?", "Who's in charge of my daughter's classroom?"),
        ("Who is my daughter's teacher?", "What's the name of my daughter's teacher?"),
        ("{x} coaches the school football team.", "{who}'s son has {x} for maths.",
         "The new headteacher is {x}."),
    ),
    FactType(
        "passport",
        _pool(_VALUES, lambda r: f"{r.choice(_MONTHS)} {r.randint(2026, 2031)}", 12),
        ("My passport expires in {v}, need to keep an eye on that.",
         "Checked my passport: valid until {v}."),
        ("When does my travel document run out?", "Until when can I still travel abroad?"),
        ('When does my passport expire?', 'How long is my passport valid?'),
        ("My driving licence expires in {x}.", "{who}'s passport runs out in {x}.",
         "The lease on the flat ends in {x}."),
    ),
    FactType(
        "storage",
        _pool(_VALUES, lambda r: str(r.randint(3000, 9999)), 12),
        ("The storage unit's keypad code is {v}.", "Code for the storage unit: {v}."),
        ("How do I get into the storage unit?", "What number opens my self-storage space?"),
        ("What's the code for the storage unit?", "What's the keypad code at the storage place?"),
        ("The office gate code is {x}.", "{who}'s alarm code is {x}, apparently.",
         "The parcel locker gave me the pickup code {x}."),
        ("They changed the keypad at the storage unit, the code is {v} now.",),
    ),
    FactType(
        "halfmarathon",
        _pool(_VALUES, lambda r: f"1:{r.randint(35, 59)}:{r.randint(10, 59)}", 12),
        ("My personal best in the half marathon is {v}.",
         "Finished the half marathon in {v}, a new record for me."),
        ("What's my fastest time over 21 kilometres?", "How quickly have I run a half?"),
        ("What's my half marathon personal best?", "What's my best half marathon time?"),
        ("{who} ran the half marathon in {x}.", "The course record is {x}.",
         "The pacer for the second group aims for {x}."),
    ),
    FactType(
        "anniversary",
        _pool(_VALUES, lambda r: f"{r.choice(_MONTHS)} {r.randint(1, 28)}", 12),
        ("Our wedding anniversary is on {v}.", "We got married on {v}, eleven years ago."),
        ("When did I get hitched?", "What date do my spouse and I celebrate each year?"),
        ('When is our wedding anniversary?', 'What date did we get married?'),
        ("{who}'s wedding is on {x}.", "The school term ends on {x}.",
         "My mum's birthday is {x}."),
    ),
    FactType(
        "medication",
        ("10 mg", "20 mg", "25 mg", "40 mg", "5 mg", "50 mg", "80 mg", "15 mg"),
        ("The doctor put me on {v} of lisinopril for my blood pressure.",),
        ("How much of my heart pill am I supposed to take?",
         "What dosage am I on for hypertension?"),
        ('What dose of lisinopril am I on?', 'How much do I take for my blood pressure?'),
        ("{who} takes {x} of something for cholesterol.",
         "The vitamin D tablets are {x} each.",
         "The vet prescribed {x} of a painkiller for the cat."),
        ("Doctor upped my blood pressure dose to {v}.",
         "My lisinopril prescription changed to {v} a day."),
    ),
    FactType(
        "hotel",
        _pool(_VALUES, lambda r: f"room {r.randint(100, 999)}", 12),
        ("At the hotel they gave me {v}, top floor.", "Checked in, I'm in {v} at the hotel."),
        ("Where am I sleeping at the hotel?", "What's the number of my accommodation?"),
        ("What's my hotel room number?", 'Which room am I in at the hotel?'),
        ("The conference session is in {x}.", "{who} is staying in {x} down the hall."),
        ("Switched rooms because of the noise, I'm in {v} now.",),
    ),
    FactType(
        "language",
        ("Portuguese", "Korean", "Swahili", "Finnish", "Tagalog", "Hungarian", "Icelandic",
         "Vietnamese"),
        ("I've started learning {v}, twenty minutes a day.",
         "My {v} lessons are going well, I can order food now."),
        ("Which foreign tongue am I studying?", "What language am I picking up?"),
        ('What language am I learning?', 'Which language lessons am I taking?'),
        ("{who} speaks fluent {x}.", "The film was in {x} with subtitles.",
         "The museum tour was offered in {x} only."),
    ),
)

WHO = ("Dave", "Tom", "Ellie", "Marta", "my cousin", "my neighbour", "Sam", "my brother")
ACKS = ("Got it, I'll remember that.", "Noted!", "Thanks, good to know.",
        "Okay, I've made a note of it.", "Understood.")
TOPICS = (
    "the quarterly report", "a recipe for lentil soup", "the new season of that detective show",
    "my tomato plants", "the book club novel", "a bug in the parser", "the kitchen renovation",
    "learning to juggle", "the heatwave", "the budget spreadsheet",
    "a birthday present for my nephew", "the bike commute", "our team offsite",
    "the broken dishwasher", "my sourdough starter", "the podcast about Roman history",
    "yoga in the mornings", "the noisy upstairs neighbours", "choosing a new laptop",
    "the electricity bill", "a chess opening", "the garden fence", "my photography hobby",
    "board game night", "the climate talk at work", "mortgage rates", "summer camp for the kids",
    "a weekend hike", "the jazz concert", "migrating our database", "my sleep schedule",
    "a job interview question", "the printer at work", "meal prep for the week",
    "marathon training", "flight prices for the summer", "parking tickets in the city centre",
    "the hotel reviews for our holiday", "a password manager", "the school fundraiser",
)
OPENERS = ("Honestly,", "By the way,", "So,", "Okay,", "Random thought:", "Also,", "Hmm,",
           "Anyway,", "")
COMMENTS = ("I keep putting it off.", "It went better than expected.", "Not sure where to start.",
            "I need a plan by the weekend.", "Everyone has a different opinion.",
            "It's taking way longer than I hoped.", "I'd like to keep it simple.",
            "Let's see how it goes.", "It cost more than I expected.",
            "I made some progress yesterday.", "I read an article about it this morning.",
            "My partner thinks I'm overdoing it.")
HUMAN = ("{opener} I've been thinking about {topic}. {comment}",
         "Can you help me with {topic}? {comment}",
         "{opener} {topic} is driving me a bit crazy.",
         "Any thoughts on {topic}?",
         "Quick update on {topic}: {comment}")
ADVICE = ("break it into small steps", "set a timer for twenty minutes and just start",
          "write down the three things that matter most",
          "compare a couple of options before deciding", "ask someone who has done it before",
          "keep notes so you can see the progress", "start with the cheapest fix first",
          "plan it for a quiet evening", "don't be too hard on yourself about it",
          "check the reviews before buying anything",
          "give it another try tomorrow with fresh eyes", "make a simple checklist")
ADJ = ("frustrating", "exciting", "like a lot of work", "manageable", "fun", "stressful")
AI = ("For {topic}, I'd {advice}.",
      "That sounds {adj}. Maybe {advice}.",
      "Good question. I'd {advice}, and see how it feels after a week.",
      "Here's an idea for {topic}: {advice}.")


def _chatter(rng: random.Random, role: str) -> str:
    topic = rng.choice(TOPICS)
    if role == "Human":
        text = rng.choice(HUMAN).format(opener=rng.choice(OPENERS), topic=topic,
                                        comment=rng.choice(COMMENTS)).strip()
        return text[0].upper() + text[1:]
    text = rng.choice(AI).format(topic=topic, advice=rng.choice(ADVICE), adj=rng.choice(ADJ))
    return text[0].upper() + text[1:]


def _other(rng: random.Random, fact: FactType, taken: set[str]) -> str:
    x = rng.choice([v for v in fact.values if v not in taken])
    text = rng.choice(fact.others).format(x=x, who=rng.choice(WHO))
    return text[0].upper() + text[1:]


def generate_conversation(rng: random.Random, conv_id: str, opts: Options) -> Conversation:
    """One conversation of ``opts.messages`` turns (Human, AI, Human, ...)."""
    n = opts.messages + opts.messages % 2
    slots = list(range(0, n, 2))  # Human turns
    planted_limit = (n - max(opts.recent, 2)) // 2  # slots before the recent part
    if planted_limit < 4:
        raise ValueError(f"{opts.messages} messages leave no room before the newest "
                         f"{opts.recent}: give more messages or a smaller --recent")
    kinds = rng.sample(FACTS, min(opts.facts, len(FACTS)))
    free_early = set(slots[:planted_limit])
    free_any = set(slots)
    texts: dict[int, str] = {}
    questions: list[Question] = []

    def take(pool: set[int], lo: int = 0, hi: int | None = None) -> int:
        choices = sorted(s for s in pool if lo <= s < (n if hi is None else hi))
        if not choices:
            raise ValueError("too many planted turns for the conversation's length")
        slot = rng.choice(choices)
        free_early.discard(slot)
        free_any.discard(slot)
        return slot

    for fact in kinds:
        changes = bool(fact.updates) and rng.random() < opts.change
        values = rng.sample(fact.values, 2 if changes else 1)
        limit = slots[planted_limit - 1] + 1
        if changes:
            first = take(free_early, 0, limit // 2)
            last = take(free_early, first + 20, limit)
            texts[first] = rng.choice(fact.says).format(v=values[0])
            texts[last] = rng.choice(fact.updates).format(v=values[1])
        else:
            first = last = take(free_early, 0, limit)
            texts[last] = rng.choice(fact.says).format(v=values[0])
        for _ in range(opts.distractors):
            texts[take(free_any)] = _other(rng, fact, set(values))
        words = rng.random() < 0.5
        questions.append(Question(
            rng.choice(fact.asks_words if words else fact.asks), (f"{conv_id}:{last}",),
            values[-1], "changed" if changes else "static",
            (f"{conv_id}:{first}",) if changes else (),
            "shared word" if words else "paraphrase"))

    turns = []
    for seq in range(n):
        role = "Human" if seq % 2 == 0 else "AI"
        if seq in texts:
            content = texts[seq]
        elif role == "AI" and seq - 1 in texts and rng.random() < 0.7:
            content = rng.choice(ACKS)
        else:
            content = _chatter(rng, role)
        turns.append(Turn(f"{conv_id}:{seq}", role, content))
    conversation = Conversation(conv_id, turns, questions)
    check(conversation)
    return conversation


def check(conversation: Conversation) -> None:
    """Each answer string appears in its evidence turns and nowhere else (a changed
    fact's older value is another string, so not in the newest statement's place)."""
    for q in conversation.questions:
        if q.answer is None:
            continue
        pattern = answer_pattern(q.answer)
        where = {t.id for t in conversation.turns if pattern.search(t.content)}
        if where != set(q.evidence):
            raise AssertionError(f"{conversation.id}: answer {q.answer!r} is in {sorted(where)},"
                                 f" expected only {list(q.evidence)}")


@loader("synthetic")
def generate(opts: Options) -> Dataset:
    """Seeded: the same options give the same conversations, byte for byte."""
    conversations = []
    for i in range(opts.conversations):
        rng = random.Random(f"{opts.seed}:{i}")
        conversations.append(generate_conversation(rng, f"synth-{opts.seed}-{i}", opts))
    questions = sum(len(c.questions) for c in conversations)
    changed = sum(q.kind == "changed" for c in conversations for q in c.questions)
    return Dataset("synthetic", conversations, [
        f"seed {opts.seed}: {opts.conversations} conversations x {opts.messages} messages, "
        f"{questions} questions ({changed} about facts that changed), {opts.distractors} "
        f"distractors per fact, nothing planted in the newest {opts.recent} messages"])


# -- LoCoMo --------------------------------------------------------------------------------

_DIA_ID = re.compile(r"D\d+:\d+")


def _locomo_samples(path: Path) -> list[tuple[str, dict]]:
    """``(conversation id, conversation)`` from a folder of per-conversation files (each
    the conversation object itself, with its ``qa``) or from ``locomo10.json`` (a list of
    samples with ``conversation`` and ``qa``)."""
    if path.is_dir():
        files = sorted(path.glob("*.json"), key=lambda f: (len(f.stem), f.stem))
        if not files:
            raise SystemExit(f"--path {path}: no *.json conversation files in this folder")
        return [(f.stem, json.loads(f.read_text(encoding="utf-8"))) for f in files]
    samples = json.loads(path.read_text(encoding="utf-8"))
    return [(str(s.get("sample_id", f"locomo-{i}")), {**s["conversation"], "qa": s.get("qa", [])})
            for i, s in enumerate(samples)]


@loader("locomo")
def load_locomo(opts: Options) -> Dataset:
    """LoCoMo from a local path (a folder of conversations, or ``locomo10.json``)."""
    if not opts.path:
        raise SystemExit("--dataset locomo needs --path: the LoCoMo folder (e.g. "
                         "../shared/data/locomo-dev) or locomo10.json")
    path = Path(opts.path)
    if not path.exists():
        raise SystemExit(f"--path {path}: no such file or folder (the LoCoMo data is not part "
                         "of this repository)")
    conversations: list[Conversation] = []
    skipped = dropped_ids = 0
    for cid, conv in _locomo_samples(path):
        names = sorted((k for k in conv if re.fullmatch(r"session_\d+", k)
                        and isinstance(conv[k], list)), key=lambda k: int(k.split("_")[1]))
        turns = []
        for name in names:
            date = conv.get(f"{name}_date_time", "")
            for t in conv[name]:
                text = f"{t['speaker']}: {t['text']}"
                if t.get("blip_caption"):
                    text += f" [shares a photo of {t['blip_caption']}]"
                role = "Human" if t["speaker"] == conv.get("speaker_a") else "AI"
                turns.append(Turn(f"{cid}:{t['dia_id']}", role, text,
                                  {"dia_id": t["dia_id"], "date": date}))
        known = {t.id for t in turns}
        questions = []
        for qa in conv.get("qa", []):
            category = int(qa.get("category", 0))
            if category not in opts.categories:
                continue
            ids = [i for e in qa.get("evidence", []) for i in _DIA_ID.findall(str(e))]
            evidence = tuple(dict.fromkeys(f"{cid}:{i}" for i in ids if f"{cid}:{i}" in known))
            dropped_ids += len(set(ids)) - len(evidence)
            if not evidence:
                skipped += 1
                continue
            answer = qa.get("answer", qa.get("adversarial_answer"))
            questions.append(Question(qa["question"], evidence,
                                      None if answer is None else str(answer),
                                      f"category {category}"))
        conversations.append(Conversation(cid, turns, questions))
    return Dataset("locomo", conversations, [
        f"{opts.path}: {len(conversations)} conversations, categories "
        f"{','.join(map(str, opts.categories))}; {skipped} questions skipped (no evidence "
        f"turn found), {dropped_ids} evidence ids not in the turns",
        "LoCoMo answers are often not verbatim in the turns (dates come from session "
        "headers, answers are paraphrased), so its baseline hit rate is a lower bound"])


def load(name: str, opts: Options) -> Dataset:
    if name not in LOADERS:
        raise SystemExit(f"unknown dataset {name!r}: one of {', '.join(sorted(LOADERS))}")
    return LOADERS[name](opts)


def chatter(n: int, seed: int) -> list[str]:
    """``n`` chit-chat messages (Human and AI alternating), seeded: bench_search's text."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = _chatter(rng, "Human" if i % 2 == 0 else "AI")
        if rng.random() < 0.3:  # some planted-style lines, so queries have real matches
            fact = rng.choice(FACTS)
            text = rng.choice(fact.others).format(x=rng.choice(fact.values), who=rng.choice(WHO))
        out.append(text)
    return out


def queries(n: int, seed: int) -> list[str]:
    """``n`` paraphrased questions (bench_search's queries), seeded."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        fact = rng.choice(FACTS)
        out.append(rng.choice(fact.asks + fact.asks_words))
    return out

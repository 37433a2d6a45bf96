"""Households and residents of the demo community: who lives together, their names, ages, ID and
phone numbers, and the person categories (tags) they fall in. Pure Python, seeded, no database.

Rates are plausible for a new town of Lanzhou: about a fifth children, a sixth over sixty, most
households of two or three, elderly people living alone, a Hui and Dongxiang minority, one
resident in seven from another province.
"""

from __future__ import annotations

import datetime as dt
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from shequ.demo import names
from shequ.registry.identifiers import resident_id_check_char

# Household sizes 1..6 (mean ≈ 2.75, as in the 2020 census for urban Gansu).
HOUSEHOLD_SIZES: tuple[tuple[int, float], ...] = ((1, 18), (2, 30), (3, 27), (4, 14), (5, 7), (6, 4))
MEAN_HOUSEHOLD_SIZE = sum(s * w for s, w in HOUSEHOLD_SIZES) / sum(w for _, w in HOUSEHOLD_SIZES)
RESIDENCE: tuple[tuple[str, float], ...] = (("registered", 68), ("resident", 17), ("floating", 15))

# Shares of the person categories; sensitive ones are rare by nature.
RATE = {
    "disabled_young": 0.012,
    "disabled_old": 0.06,
    "subsistence_household": 0.012,
    "extreme_poverty_alone": 0.04,
    "left_behind_child": 0.015,
    "veteran_man": 0.015,
    "community_correction": 0.0002,
    "released_prisoner": 0.0006,
    "severe_mental_disorder": 0.0045,
    "drug_user": 0.0005,
    "key_youth": 0.002,
    "key_petitioner": 0.0003,
}
PARTY_MIN_AGE = 20


@dataclass
class Member:
    relation: str
    gender: str
    age: int


@dataclass
class PersonDraft:
    """One resident ready for registry.services.check_person, with the tag codes to attach."""

    raw: dict[str, Any]
    tags: list[str] = field(default_factory=list)


# Each table's items and cumulative weights, made once: rebuilding them at every draw was a tenth of
# making 82,000 people. rng.choices accumulates `weights` the same way, so draws are unchanged.
_TABLES: dict[int, tuple[Sequence[Any], list[Any], list[float]]] = {}


def _weighted[T](rng: random.Random, items: Sequence[tuple[T, float]]) -> T:
    table = _TABLES.get(id(items))
    if table is None or table[0] is not items:  # keyed by identity: the tables are module constants
        table = _TABLES[id(items)] = (items, [i for i, _ in items], list(accumulate(w for _, w in items)))
    return rng.choices(table[1], cum_weights=table[2])[0]


class IdAllocator:
    """Unique resident ID numbers without remembering them: a counter per (region, birth day,
    gender) picks the next free sequence number, starting at a per-key pseudo-random offset.

    Memory is bounded by regions × days (a few MB), not by the number of residents.
    """

    EPOCH = dt.date(1900, 1, 1)

    def __init__(self, reference: dt.date) -> None:
        self.days = (reference - self.EPOCH).days + 1
        self.counters: dict[str, array[int]] = {}

    def allocate(self, region: str, birth: dt.date, male: bool) -> str:
        for shift in range(30):  # a full key (500 of one gender born that day) moves a day back
            day = birth - dt.timedelta(days=shift)
            d = (day - self.EPOCH).days
            counters = self.counters.get(region)
            if counters is None:
                counters = self.counters[region] = array("H", bytes(4 * self.days))
            slot = 2 * d + male
            used = counters[slot]
            if used < 500:
                counters[slot] = used + 1
                start = (d * 7919 + int(region) * 31) % 500
                # As make_resident_id builds it; its validation is left to check_person, which
                # every resident passes (parsing each number twice cost a tenth of the residents).
                sequence = 2 * ((start + used) % 500) + male
                first17 = f"{region}{day.year:04d}{day.month:02d}{day.day:02d}{sequence:03d}"
                return first17 + resident_id_check_char(first17)
        raise RuntimeError(f"no free resident ID sequence for {region} around {birth}")


class PeopleMaker:
    """Makes households one by one. `party_members` residents, spread evenly over the first
    `residents` people made, are tagged party members (an exact count, needed by the figures)."""

    def __init__(
        self,
        seed: int,
        reference: dt.date,
        residents: int,
        party_members: int,
        ids: IdAllocator | None = None,
    ) -> None:
        self.reference = reference
        self.ids = ids or IdAllocator(reference)  # shared across clusters: ID numbers stay unique
        rng = random.Random(f"{seed}:party")
        # Leave the last 5 % out so that an adult always follows a drawn position.
        span = max(1, int(residents * 0.95))
        self.party_at = sorted(rng.sample(range(span), min(party_members, span)))
        self.party_next = 0
        self.party_pending = 0
        self.made = 0

    def household_size(self, rng: random.Random) -> int:
        return _weighted(rng, HOUSEHOLD_SIZES)

    def household(self, rng: random.Random, size: int) -> list[PersonDraft]:
        members = _compose(rng, size)
        ethnicity = _weighted(rng, names.ETHNICITIES)
        residence = _weighted(rng, RESIDENCE)
        home = self._home_region(rng, ethnicity, residence)
        low_income = rng.random() < RATE["subsistence_household"]
        head, spouse = members[0], next((m for m in members if m.relation == "配偶"), None)
        head_surname = _surname(rng, ethnicity)
        spouse_surname = _surname(rng, ethnicity)
        father_surname = head_surname if head.gender == "male" or spouse is None else spouse_surname
        drafts = []
        for m in members:
            own_ethnicity = ethnicity if m.relation != "配偶" or rng.random() < 0.9 else "汉族"
            if m.relation == "配偶":
                surname = spouse_surname
            elif m.relation in ("子", "女"):
                surname = father_surname
            elif m.relation == "母亲":
                surname = _surname(rng, ethnicity)
            else:
                surname = head_surname
            birth = self._birth(rng, m.age)
            region = home if m.relation != "配偶" else self._home_region(rng, own_ethnicity, residence)
            if residence != "floating" and birth.year >= names.NEW_AREA_SINCE_YEAR:
                region = names.NEW_AREA_REGION
            raw: dict[str, Any] = {
                "name": _full_name(rng, surname, m.gender, birth.year, own_ethnicity),
                "id_number": self.ids.allocate(region, birth, m.gender == "male"),
                "ethnicity": own_ethnicity,
                "residence": residence,
                "relation": m.relation,
            }
            if m.age >= 14 and rng.random() < (0.7 if m.age >= 75 else 0.96):
                raw["phone"] = rng.choice(names.MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            drafts.append(PersonDraft(raw, self._tags(rng, m, members, low_income)))
        return drafts

    def _home_region(self, rng: random.Random, ethnicity: str, residence: str) -> str:
        if ethnicity in names.ETHNIC_REGIONS and rng.random() < 0.6:
            return _weighted(rng, names.ETHNIC_REGIONS[ethnicity])
        if residence == "floating":
            return _weighted(rng, names.OTHER_REGIONS)
        return _weighted(rng, names.GANSU_REGIONS)

    def _birth(self, rng: random.Random, age: int) -> dt.date:
        # A birthday in the year before the reference date's `age`-th anniversary.
        days = int(age * 365.25) + rng.randrange(365)
        return self.reference - dt.timedelta(days=days + 1)

    def _tags(self, rng: random.Random, m: Member, members: list[Member], low_income: bool) -> list[str]:
        tags = []
        age = m.age
        if age >= 60 and len(members) == 1:
            tags.append("elderly_alone")
            if rng.random() < RATE["extreme_poverty_alone"]:
                tags.append("extreme_poverty")
        if age >= 60 and len(members) == 2 and all(x.age >= 60 for x in members):
            tags.append("empty_nest_elderly")
        if age >= 80:
            tags.append("elderly_80_plus")
        if rng.random() < RATE["disabled_old" if age >= 60 else "disabled_young"]:
            tags.append("disabled")
        if low_income:
            tags.append("subsistence_allowance")
        if age < 16 and rng.random() < RATE["left_behind_child"]:
            tags.append("left_behind_child")
        if m.gender == "male" and age >= 22 and rng.random() < RATE["veteran_man"]:
            tags.append("veteran")
        if 18 <= age <= 65:
            for code in ("community_correction", "released_prisoner", "drug_user", "key_petitioner"):
                if rng.random() < RATE[code]:
                    tags.append(code)
        if age >= 18 and rng.random() < RATE["severe_mental_disorder"]:
            tags.append("severe_mental_disorder")
        if 12 <= age <= 25 and rng.random() < RATE["key_youth"]:
            tags.append("key_youth")
        # Party members: each drawn position makes the next adult a member.
        while self.party_next < len(self.party_at) and self.party_at[self.party_next] <= self.made:
            self.party_pending += 1
            self.party_next += 1
        if self.party_pending and age >= PARTY_MIN_AGE:
            tags.append("party_member")
            self.party_pending -= 1
        self.made += 1
        return tags


def _compose(rng: random.Random, size: int) -> list[Member]:
    """Relations, genders and ages of a household of `size` people (head first)."""

    def other(gender: str) -> str:
        return "female" if gender == "male" else "male"

    def child(parent_age: int, older: int | None = None) -> Member:
        age = parent_age - rng.randint(22, 34) if older is None else older - rng.randint(1, 7)
        gender = "male" if rng.random() < 0.52 else "female"
        return Member("子" if gender == "male" else "女", gender, max(0, age))

    if size == 1:
        age = rng.randint(60, 92) if rng.random() < 0.3 else rng.randint(20, 59)
        return [Member("户主", "male" if rng.random() < (0.42 if age >= 60 else 0.6) else "female", age)]
    if size == 2:
        r = rng.random()
        if r < 0.8:
            head_age = rng.randint(60, 88) if r < 0.35 else rng.randint(22, 59)
            gender = "male" if rng.random() < 0.8 else "female"
            spouse_age = max(20, head_age + rng.randint(-6, 3) * (1 if gender == "male" else -1))
            return [Member("户主", gender, head_age), Member("配偶", other(gender), spouse_age)]
        head_age = rng.randint(28, 55)
        gender = "male" if rng.random() < 0.35 else "female"
        return [Member("户主", gender, head_age), child(head_age)]
    grandparents = {3: 0, 4: 1 if rng.random() < 0.4 else 0, 5: 1 if rng.random() < 0.6 else 2, 6: 2}[size]
    children = size - 2 - grandparents
    head_age = rng.randint(25, 52 if grandparents else 58)
    gender = "male" if rng.random() < 0.8 else "female"
    out = [
        Member("户主", gender, head_age),
        Member("配偶", other(gender), max(20, head_age + rng.randint(-5, 3))),
    ]
    older: int | None = None
    for _ in range(children):
        kid = child(head_age, older)
        out.append(kid)
        older = kid.age
    for n in range(grandparents):
        parent_gender = "male" if n == 0 and grandparents == 2 else rng.choice(("male", "female"))
        out.append(
            Member(
                "父亲" if parent_gender == "male" else "母亲",
                parent_gender,
                min(96, head_age + rng.randint(22, 32)),
            )
        )
    if grandparents == 2:
        out[-1] = Member("母亲", "female", out[-1].age)
    return out


def _surname(rng: random.Random, ethnicity: str) -> str:
    if ethnicity == "回族":
        return _weighted(rng, names.HUI_SURNAMES)
    if ethnicity == "东乡族":
        return _weighted(rng, names.DONGXIANG_SURNAMES)
    return _weighted(rng, names.SURNAMES)


def _era(year: int) -> int:
    return 0 if year <= 1965 else 1 if year <= 1990 else 2 if year <= 2010 else 3


def _full_name(rng: random.Random, surname: str, gender: str, year: int, ethnicity: str) -> str:
    if ethnicity == "藏族":
        first, second = names.TIBETAN_NAMES[gender]
        return rng.choice(first) + rng.choice(second)
    era = _era(year)
    if rng.random() < 0.55:
        return surname + rng.choice(names.GIVEN_NAMES[(gender, era)])
    a, b = names.GIVEN_CHARS[(gender, era)]
    single = rng.random() < (0.3 if era == 1 else 0.1)
    return surname + (rng.choice(b) if single else rng.choice(a) + rng.choice(b))

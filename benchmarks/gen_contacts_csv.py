"""Generate a contacts CSV with duplicates planted at a known rate, and the truth beside it.

Rows look like a HubSpot contacts export (so the importer's auto-mapping is exercised). A planted
duplicate is a second record of the same person as another row, changed the way real duplicates
differ: a nickname or a typo in the name, a personal instead of a work address, a phone number
written another way, the company spelled differently, a field left empty. Every planted
duplicate keeps at least one piece of evidence a person reviewing it would rely on (an email, a
phone, the organization, or the address); a record that shares nothing but a common name with
another is not findable by anyone and is not planted.

The truth file lists each row's record id and its cluster (the record id of the original), so
precision and recall can be measured over every pair inside a cluster.

    python benchmarks/gen_contacts_csv.py --rows 100000 --out /tmp/contacts.csv
"""

from __future__ import annotations

import argparse
import bisect
import csv
import itertools
import random
import sys
from dataclasses import dataclass
from pathlib import Path

HEADERS = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Company Name",
    "Job Title",
    "City",
    "Postal Code",
    "Country/Region",
    "Lifecycle Stage",
]

FREE_MAIL = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com"]
LEGAL_FORMS = ["Inc", "LLC", "Ltd", "Corp", "Group", "Co", "PLC", ""]
STAGES = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "customer"]
JOBS = [
    "CEO",
    "CFO",
    "Head of Sales",
    "Account Manager",
    "Buyer",
    "Procurement Lead",
    "Marketing Manager",
    "Office Manager",
    "Engineer",
    "Consultant",
    "Operations Director",
    "",
]
NICKNAME_OF = {
    "Robert": "Bob",
    "William": "Bill",
    "Elizabeth": "Liz",
    "James": "Jim",
    "Michael": "Mike",
    "Katherine": "Kate",
    "Thomas": "Tom",
    "David": "Dave",
    "Daniel": "Dan",
    "Christopher": "Chris",
    "Matthew": "Matt",
    "Joseph": "Joe",
    "Anthony": "Tony",
    "Steven": "Steve",
    "Nicholas": "Nick",
    "Alexander": "Alex",
    "Samuel": "Sam",
    "Benjamin": "Ben",
    "Andrew": "Andy",
    "Jennifer": "Jen",
    "Jessica": "Jess",
    "Susan": "Sue",
    "Patricia": "Pat",
    "Margaret": "Maggie",
    "Richard": "Rick",
    "Edward": "Ed",
    "Gregory": "Greg",
    "Jeffrey": "Jeff",
    "Kenneth": "Ken",
    "Ronald": "Ron",
    "Timothy": "Tim",
    "Rebecca": "Becky",
    "Joshua": "Josh",
    "Kimberly": "Kim",
    "Nathan": "Nate",
    "Victoria": "Vicky",
    "Zachary": "Zach",
}
# Area codes that libphonenumber accepts as valid US/NANP numbers (checked once, listed here so
# the generator needs no phonenumbers import and stays fast).
AREA_CODES = [
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224,
    225, 228, 229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270,
    272, 276, 281, 301, 302, 303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317,
    318, 319, 320, 321, 323, 325, 330, 331, 334, 336, 337, 339, 347, 351, 352, 360, 361, 386,
    401, 402, 404, 405, 406, 407, 408, 409, 410, 412, 413, 414, 415, 417, 419, 423, 424, 425,
    430, 432, 434, 435, 440, 443, 469, 470, 475, 478, 479, 480, 484, 501, 502, 503, 504, 505,
    507, 508, 509, 510, 512, 513, 515, 516, 517, 518, 520, 530, 540, 541, 551, 559, 561, 562,
    563, 567, 570, 571, 573, 574, 575, 580, 585, 586, 601, 602, 603, 605, 606, 607, 608, 609,
    610, 612, 614, 615, 616, 617, 618, 619, 620, 623, 626, 630, 631, 636, 641, 646, 650, 651,
    660, 661, 662, 678, 682, 701, 702, 703, 704, 706, 707, 708, 712, 713, 714, 715, 716, 717,
    718, 719, 720, 724, 727, 731, 732, 734, 740, 754, 757, 760, 762, 763, 765, 770, 772, 773,
    774, 775, 781, 785, 786, 801, 802, 803, 804, 805, 806, 808, 810, 812, 813, 814, 815, 816,
    817, 818, 828, 830, 831, 832, 843, 845, 847, 848, 850, 856, 857, 858, 859, 860, 862, 863,
    864, 865, 870, 878, 901, 903, 904, 906, 907, 908, 909, 910, 912, 913, 914, 915, 916, 917,
    918, 919, 920, 925, 928, 931, 936, 937, 940, 941, 947, 949, 951, 952, 954, 956, 970, 971,
    972, 973, 978, 979, 980, 985, 989,
]  # fmt: skip


@dataclass
class Person:
    record_id: str
    first: str
    last: str
    email: str
    phone: str  # digits: NPA NXX XXXX
    company: str
    job: str
    city: str
    postcode: str
    stage: str


def _weighted(pairs):
    names = [name for name, _ in pairs]
    cumulative = list(itertools.accumulate(weight for _, weight in pairs))
    return names, cumulative


class Pools:
    """Names, companies and places drawn the way they occur: a few common, many rare."""

    def __init__(self, rng: random.Random, rows: int):
        from faker import Faker
        from faker.providers.person.en_US import Provider as PersonProvider

        self.rng = rng
        firsts = list(PersonProvider.first_names_male.items()) + list(
            PersonProvider.first_names_female.items()
        )
        for name in NICKNAME_OF:  # make sure the nickname-able names occur
            firsts.append((name, 0.004))
        self.first_names, self.first_cum = _weighted(firsts)
        self.last_names, self.last_cum = _weighted(list(PersonProvider.last_names.items()))
        faker = Faker("en_US")
        faker.seed_instance(rng.randrange(1 << 30))
        companies = max(50, rows // 40)
        seen, self.companies = set(), []
        while len(self.companies) < companies:
            base = faker.last_name() if rng.random() < 0.5 else faker.word().title()
            second = rng.choice(["", faker.word().title(), faker.last_name()])
            name = f"{base} {second}".strip() if rng.random() < 0.6 else base
            key = name.lower()
            if key in seen:
                name = f"{name} {faker.word().title()}"
                key = name.lower()
                if key in seen:
                    continue
            seen.add(key)
            form = rng.choice(LEGAL_FORMS)
            domain = "".join(ch for ch in name.lower() if ch.isalnum()) + rng.choice(
                [".com", ".com", ".com", ".io", ".net", ".co"]
            )
            self.companies.append((f"{name} {form}".strip(), domain))
        # Cities with Zipf-like sizes, each with about one postcode per 40 residents.
        cities = max(30, min(2000, rows // 500))
        names = set()
        while len(names) < cities:
            names.add(faker.city())
        self.cities = sorted(names)
        weights = [1.0 / (rank + 1) ** 0.9 for rank in range(cities)]
        total = sum(weights)
        self.city_cum = list(itertools.accumulate(w / total for w in weights))
        self.postcodes = []
        base = 10000
        for weight in weights:
            count = max(1, int(rows * weight / total / 40))
            self.postcodes.append([f"{base + i:05d}" for i in range(count)])
            base += count
        self.emails: set[str] = set()
        self.phones: set[str] = set()

    def first(self) -> str:
        return self.first_names[
            bisect.bisect(self.first_cum, self.rng.random() * self.first_cum[-1])
        ]

    def last(self) -> str:
        return self.last_names[bisect.bisect(self.last_cum, self.rng.random() * self.last_cum[-1])]

    def place(self) -> tuple[str, str]:
        index = min(bisect.bisect(self.city_cum, self.rng.random()), len(self.cities) - 1)
        return self.cities[index], self.rng.choice(self.postcodes[index])

    def phone(self) -> str:
        while True:
            number = (
                f"{self.rng.choice(AREA_CODES)}{self.rng.randint(200, 999)}"
                f"{self.rng.randint(0, 9999):04d}"
            )
            if number[3:6] != "555" and number not in self.phones:
                self.phones.add(number)
                return number

    def email(self, first: str, last: str, domain: str) -> str:
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        candidate = f"{local}@{domain}"
        n = 1
        while candidate in self.emails:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self.emails.add(candidate)
        return candidate


def new_person(pools: Pools, record_id: str) -> Person:
    rng = pools.rng
    first, last = pools.first(), pools.last()
    city, postcode = pools.place()
    company, domain = ("", "")
    if rng.random() < 0.8:
        company, domain = rng.choice(pools.companies)
    if domain and rng.random() < 0.75:
        email = pools.email(first, last, domain)
    elif rng.random() < 0.85:
        email = pools.email(first, last, rng.choice(FREE_MAIL))
    else:
        email = ""
    phone = pools.phone() if rng.random() < 0.7 else ""
    return Person(
        record_id=record_id,
        first=first,
        last=last,
        email=email,
        phone=phone,
        company=company,
        job=rng.choice(JOBS),
        city=city,
        postcode=postcode,
        stage=rng.choice(STAGES),
    )


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word + word[-1]
    i = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    if kind < 0.35:  # swap two neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind < 0.65:  # drop one
        return word[:i] + word[i + 1 :]
    if kind < 0.85:  # double one
        return word[:i] + word[i] + word[i:]
    vowels = "aeiou"
    return word[:i] + rng.choice(vowels) + word[i + 1 :]


def _phone_variant(rng: random.Random, digits: str) -> str:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return rng.choice(
        [f"({a}) {b}-{c}", f"+1 {a} {b} {c}", f"{a}.{b}.{c}", f"1-{a}-{b}-{c}", f"{a}{b}{c}"]
    )


def _company_variant(rng: random.Random, company: str) -> str:
    words = company.split()
    if len(words) > 1 and words[-1] in {"Inc", "LLC", "Ltd", "Corp", "Group", "Co", "PLC"}:
        base = " ".join(words[:-1])
        return rng.choice([base, f"{base}, {words[-1]}.", base.upper()])
    return rng.choice([company.upper(), f"{company} Inc.", company.lower()])


def duplicate_of(pools: Pools, original: Person, record_id: str) -> Person:
    """A second record of the same person, differing the way real duplicates do."""
    rng = pools.rng
    first, last = original.first, original.last
    roll = rng.random()
    if roll < 0.2 and first in NICKNAME_OF:
        first = NICKNAME_OF[first]
    elif roll < 0.32:
        first = _typo(rng, first)
    if rng.random() < 0.25:
        last = _typo(rng, last)
    if rng.random() < 0.1:
        first, last = first.upper(), last.upper()

    email = original.email
    roll = rng.random()
    if roll < 0.3 and email:
        email = email.upper() if rng.random() < 0.5 else email
    elif roll < 0.55:
        email = pools.email(first, last, rng.choice(FREE_MAIL))
    else:
        email = ""
    phone = original.phone
    roll = rng.random()
    if phone and roll < 0.45:
        phone = _phone_variant(rng, phone)
    elif roll < 0.85:
        phone = ""
    elif roll < 0.93:
        phone = pools.phone()  # a new number: people change phones too
    company = original.company
    roll = rng.random()
    if company and roll < 0.3:
        company = _company_variant(rng, company)
    elif roll < 0.45:
        company = ""
    city, postcode = original.city, original.postcode
    if rng.random() < 0.2:
        city, postcode = "", ""

    same_email = email and email.lower() == original.email.lower()
    same_phone = phone and "".join(ch for ch in phone if ch.isdigit())[-10:] == original.phone
    if not (same_email or same_phone or company or (city and postcode)):
        # Nothing but the name left: keep the phone or, failing that, the organization.
        if original.phone:
            phone = _phone_variant(rng, original.phone)
        elif original.company:
            company = original.company
        else:
            city, postcode = original.city, original.postcode
    return Person(
        record_id=record_id,
        first=first,
        last=last,
        email=email,
        phone=phone,
        company=company,
        job=original.job if rng.random() < 0.7 else rng.choice(JOBS),
        city=city,
        postcode=postcode,
        stage=original.stage,
    )


def _row(person: Person) -> list[str]:
    phone = person.phone
    if phone and phone.isdigit():
        phone = f"+1 {phone[:3]}-{phone[3:6]}-{phone[6:]}"
    return [
        person.record_id,
        person.first,
        person.last,
        person.email,
        phone,
        person.company,
        person.job,
        person.city,
        person.postcode,
        "US",
        person.stage,
    ]


def generate(path: Path, rows: int, *, duplicate_rate: float = 0.05, seed: int = 7) -> dict:
    """Write `rows` contacts to `path` (a share `duplicate_rate` planted duplicates) and
    `path`.truth.csv; returns counts."""
    rng = random.Random(seed)
    pools = Pools(rng, rows)
    originals: list[Person] = []
    cluster_sizes: dict[str, int] = {}
    truth_path = Path(f"{path}.truth.csv")
    duplicates = 0
    with (
        open(path, "w", newline="", encoding="utf-8") as out,
        open(truth_path, "w", newline="", encoding="utf-8") as truth_out,
    ):
        writer = csv.writer(out)
        truth = csv.writer(truth_out)
        writer.writerow(HEADERS)
        truth.writerow(["record_id", "cluster"])
        for n in range(rows):
            record_id = f"R{n + 1:07d}"
            if originals and rng.random() < duplicate_rate:
                original = rng.choice(originals)
                person = duplicate_of(pools, original, record_id)
                cluster = original.record_id
                duplicates += 1
            else:
                person = new_person(pools, record_id)
                originals.append(person)
                cluster = record_id
            cluster_sizes[cluster] = cluster_sizes.get(cluster, 0) + 1
            writer.writerow(_row(person))
            truth.writerow([record_id, cluster])
    pairs = sum(size * (size - 1) // 2 for size in cluster_sizes.values())
    return {"rows": rows, "duplicates": duplicates, "truth_pairs": pairs, "truth": truth_path}


def read_truth(path: Path) -> dict[str, str]:
    with open(f"{path}.truth.csv", newline="", encoding="utf-8") as handle:
        return {row["record_id"]: row["cluster"] for row in csv.DictReader(handle)}


def truth_pairs(clusters: dict[str, str]) -> set[tuple[str, str]]:
    """Every pair of record ids inside one cluster."""
    members: dict[str, list[str]] = {}
    for record_id, cluster in clusters.items():
        members.setdefault(cluster, []).append(record_id)
    pairs = set()
    for ids in members.values():
        for a, b in itertools.combinations(sorted(ids), 2):
            pairs.add((a, b))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duplicate-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = generate(args.out, args.rows, duplicate_rate=args.duplicate_rate, seed=args.seed)
    print(
        f"wrote {result['rows']:,} rows ({result['duplicates']:,} planted duplicates, "
        f"{result['truth_pairs']:,} duplicate pairs) to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

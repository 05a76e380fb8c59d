"""A demo lead's promise tilts whether it buys without deciding it (issue 15: the learned score
must find tendencies, not a rule)."""

import math
import random

from rapport.demo import vocabulary as words
from rapport.demo.people import BOUGHT
from rapport.demo.promise import lead_promise, odds, seniority


def draw(rng, pairs):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights, k=1)[0]


def test_promise_ranks_leads_as_a_sales_team_would():
    best = lead_promise(source="referral", job_title="Head of IT", has_phone=True)
    worst = lead_promise(source="import", job_title="", has_phone=False)
    assert best > 0 > worst
    assert seniority("Chief Financial Officer") == "executive"
    assert seniority("Purchasing Manager") == "manager"
    assert seniority("Data Analyst") == "other" and seniority("") == ""


def test_the_tilt_keeps_the_share_of_buyers_and_leaves_every_lead_a_chance():
    rng = random.Random(3)
    total = sum(weight for _stage, weight in words.FINAL_STAGES)
    untilted = sum(weight for stage, weight in words.FINAL_STAGES if stage in BOUGHT) / total
    chances = []
    for _ in range(20_000):
        company = rng.random() < 0.85
        promise = lead_promise(
            source=draw(rng, words.SOURCES),
            job_title=draw(rng, words.JOB_TITLES) if company else "",
            has_phone=rng.random() < (0.75 if company else 0.4),
        )
        tilt = odds(promise)
        chances.append(untilted * tilt / (untilted * tilt + 1 - untilted))
    mean = sum(chances) / len(chances)
    assert math.isclose(mean, untilted, abs_tol=0.02), (mean, untilted)
    # A tendency, not a rule: the poorest lead can still buy, the best can still not.
    assert min(chances) > 0.1 and max(chances) < 0.8

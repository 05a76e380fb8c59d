"""How promising a demo lead is: what the learned lead score has to find in the demo.

A lead's promise is a shift of its log-odds of buying, from what a real sales team would notice:
where the lead came from, how senior the person is, whether they left a phone number. (Not the
size of their company: buyers drawn to the big accounts would leave fewer accounts buying, and
fewer deals won.) It tilts the dice, it does not decide: a referred director from a large company
still often goes nowhere, and a lead from a bought list sometimes buys. An outcome that followed
the features exactly would teach the model certainty it could never have, and every lead would
score 0 or 100.
"""

from __future__ import annotations

import math

SOURCE = {
    "referral": 0.9,
    "trade_show": 0.5,
    "chat": 0.4,
    "email": 0.3,
    "manual": 0.3,
    "web_form": 0.0,
    "api": 0.0,
    "campaign": -0.4,
    "social": -0.6,
    "import": -0.8,
}
EXECUTIVE_WORDS = ("chief", "managing director", "head of", "director", "founder", "owner")
MANAGER_WORDS = ("manager", "lead")
SENIORITY = {"executive": 0.6, "manager": 0.2, "other": 0.0, "": -0.2}
PHONE = 0.3
# Promise is measured from about the demo contacts' mean, set so that tilting who buys leaves
# the share of buyers (the funnel's shape, FINAL_STAGES) where it was: about 39 %.
CENTRE = 0.5


def seniority(job_title: str) -> str:
    title = (job_title or "").casefold()
    if any(word in title for word in EXECUTIVE_WORDS):
        return "executive"
    if any(word in title for word in MANAGER_WORDS):
        return "manager"
    return "other" if title else ""


def lead_promise(*, source: str, job_title: str, has_phone: bool) -> float:
    """The lead's shift in log-odds of buying, about 0 for an average demo lead."""
    return (
        SOURCE.get(source, 0.0)
        + SENIORITY[seniority(job_title)]
        + (PHONE if has_phone else 0.0)
        - CENTRE
    )


def odds(promise: float) -> float:
    return math.exp(promise)

"""Maturity assessment scoring: per question, per stage, overall, and the gaps. Pure.

Every answer is a score 1–5 on the maturity scale. A question's score is the mean of its
respondents' scores; a stage's the mean of its answered questions; the assessment's the mean of
its answered stages (so a stage with many questions does not outweigh one with few). The gaps are
the answered questions scoring below 4 ("managed"), lowest first — ties broken by stronger
disagreement between respondents, then catalogue order — each with its suggested action.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

GAP_BELOW = 4.0
MAX_GAPS = 5
DISAGREEMENT = 2  # respondents this many points apart disagree


@dataclass(frozen=True)
class Answer:
    respondent: int
    stage: str
    question: str
    score: int


@dataclass(frozen=True)
class QuestionScore:
    stage: str
    question: str
    text: str
    action: str
    mean: float | None
    answers: int
    spread: int

    @property
    def disputed(self) -> bool:
        return self.spread >= DISAGREEMENT


@dataclass(frozen=True)
class StageScore:
    stage: str
    mean: float | None
    questions: list[QuestionScore] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    stages: dict[str, StageScore]
    overall: float | None
    respondents: int
    gaps: list[QuestionScore]


def score(questions: Iterable[tuple[str, str, str, str]], answers: Iterable[Answer]) -> Result:
    """Score `answers` against `questions` given as (stage key, question key, text, action), in
    catalogue order. Answers to unknown questions are ignored."""
    questions = list(questions)
    by_question: dict[tuple[str, str], list[int]] = defaultdict(list)
    respondents = set()
    known = {(stage, key) for stage, key, _text, _action in questions}
    for answer in answers:
        if (answer.stage, answer.question) not in known:
            continue
        if not 1 <= answer.score <= 5:
            raise ValueError("scores are between 1 and 5")
        by_question[(answer.stage, answer.question)].append(answer.score)
        respondents.add(answer.respondent)
    stage_questions: dict[str, list[QuestionScore]] = defaultdict(list)
    order = []
    for index, (stage, key, text, action) in enumerate(questions):
        scores = by_question.get((stage, key), [])
        item = QuestionScore(
            stage=stage,
            question=key,
            text=text,
            action=action,
            mean=sum(scores) / len(scores) if scores else None,
            answers=len(scores),
            spread=(max(scores) - min(scores)) if scores else 0,
        )
        stage_questions[stage].append(item)
        order.append((index, item))
    stages = {}
    for stage, items in stage_questions.items():
        means = [q.mean for q in items if q.mean is not None]
        stages[stage] = StageScore(
            stage=stage, mean=sum(means) / len(means) if means else None, questions=items
        )
    answered = [s.mean for s in stages.values() if s.mean is not None]
    gaps = sorted(
        ((index, item) for index, item in order if item.mean is not None and item.mean < GAP_BELOW),
        key=lambda pair: (pair[1].mean, -pair[1].spread, pair[0]),
    )
    return Result(
        stages=stages,
        overall=sum(answered) / len(answered) if answered else None,
        respondents=len(respondents),
        gaps=[item for _index, item in gaps[:MAX_GAPS]],
    )

"""The shapes a CRM model is declared in."""

from dataclasses import dataclass, field

# The maturity scale every questionnaire uses, with the guidance shown beside each answer.
MATURITY_SCALE = {
    1: "Absent — nothing in place, or only in individual heads.",
    2: "Ad hoc — some people do it, inconsistently, without a shared way.",
    3: "Defined — written down and mostly followed, but not measured.",
    4: "Managed — followed everywhere and measured; gaps are acted upon.",
    5: "Optimizing — measured, reviewed regularly and improved from the results.",
}


@dataclass(frozen=True)
class StageKpi:
    """A KPI measuring a stage, with the default target and the band that still counts as "at risk".

    `target` is in the KPI's unit. For a higher-is-better KPI the stage is on track at or above the
    target, at risk within `tolerance` (a fraction of the target) below it, off track further below;
    mirrored for lower-is-better.
    """

    kpi: str
    target: float | None = None
    tolerance: float = 0.15


@dataclass(frozen=True)
class Question:
    """A maturity question, answered on MATURITY_SCALE; `action` is suggested when it scores low."""

    key: str
    text: str
    guidance: str = ""
    action: str = ""  # what to do when this scores low: becomes a suggested action


@dataclass(frozen=True)
class FeatureLink:
    """A page of Rapport that acts on a stage; hidden when its URL does not exist (yet)."""

    label: str
    url_name: str


@dataclass(frozen=True)
class Stage:
    """A stage (or component) of a model: measured by its KPIs, assessed by its questions, or both."""

    key: str
    name: str
    summary: str
    kpis: tuple[StageKpi, ...] = ()
    questions: tuple[Question, ...] = ()
    features: tuple[FeatureLink, ...] = ()
    group: str = ""  # e.g. "primary" / "support" in the Value Chain
    assessed: bool = False
    # Whose figures measure the stage: "" for every customer, "significant" for the
    # strategically significant ones (the analytics platinum and gold tiers).
    population: str = ""


@dataclass(frozen=True)
class CrmModel:
    """One CRM model: its stages in order and, where it has one, the per-customer journey."""

    key: str
    name: str
    authors: str
    summary: str
    fits_when: str
    stages: tuple[Stage, ...]
    journey: tuple[str, ...] = field(default_factory=tuple)  # stage keys of a per-customer journey

    def stage(self, key: str) -> Stage:
        for stage in self.stages:
            if stage.key == key:
                return stage
        raise KeyError(key)

    @property
    def questions(self) -> list[tuple[Stage, Question]]:
        return [(stage, question) for stage in self.stages for question in stage.questions]

    @property
    def kpi_keys(self) -> list[str]:
        seen: list[str] = []
        for stage in self.stages:
            for stage_kpi in stage.kpis:
                if stage_kpi.kpi not in seen:
                    seen.append(stage_kpi.kpi)
        return seen

"""The five CRM models, declared as data: stages, what each means here, the KPIs that measure it,
default targets, the Rapport features that act on it, and maturity questions for what no data
can measure.

Targets are defaults a manager can override per stage; KPI keys refer to the KPI catalogue
(`rapport.frameworks.kpis`). A stage with `assessed=True` is scored by the maturity
questionnaire, not (only) by data. A stage with `population="significant"` is measured on the
strategically significant customers (the Value Chain's primary stages).
"""

from rapport.frameworks.catalog.base import CrmModel, Question, Stage, StageKpi
from rapport.frameworks.catalog.gartner import GARTNER
from rapport.frameworks.catalog.idic import IDIC
from rapport.frameworks.catalog.payne_frow import PAYNE_FROW
from rapport.frameworks.catalog.qci import QCI
from rapport.frameworks.catalog.value_chain import VALUE_CHAIN

MODELS: dict[str, CrmModel] = {
    model.key: model for model in (IDIC, VALUE_CHAIN, PAYNE_FROW, QCI, GARTNER)
}


def get_model(key: str) -> CrmModel:
    return MODELS[key]


__all__ = ["MODELS", "CrmModel", "Question", "Stage", "StageKpi", "get_model"]

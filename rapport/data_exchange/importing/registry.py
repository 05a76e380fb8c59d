"""The importer registry. The contract (Importer, Target, SourceRow, RowResult, ...) is in
`rapport.core.importing`, so that other apps can add importers without depending on this one;
this module keeps the names where data_exchange's own code has always imported them."""

from rapport.core.importing import (
    ACTIONS_THAT_COUNT,
    Importer,
    RowErrors,
    RowResult,
    SourceRow,
    Target,
    auto_map,
    get_importer,
    header_key,
    importers,
    register_importer,
)

__all__ = [
    "ACTIONS_THAT_COUNT",
    "Importer",
    "RowErrors",
    "RowResult",
    "SourceRow",
    "Target",
    "auto_map",
    "get_importer",
    "header_key",
    "importers",
    "register_importer",
]

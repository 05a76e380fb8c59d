"""`field__any_of=values`: `field IN (values)`, sent to PostgreSQL as one array parameter.

An import batch looks thousands of values up at a time. As `IN (%s, %s, …)` each value is a
parameter of its own, and building, sending and parsing a 2,000-parameter query cost about as
much as running it; `= ANY(%s)` is one parameter and the same index scan. Other databases get
the IN list.
"""

from __future__ import annotations

from django.db.models import Field
from django.db.models.lookups import In


@Field.register_lookup
class AnyOf(In):
    lookup_name = "any_of"

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql" or not self.rhs_is_direct_value():
            return super().as_sql(compiler, connection)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        _rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY(%s)", (*lhs_params, list(rhs_params))

"""How a KPI's value and its change read on a tile."""

from rapport.frameworks.templatetags.frameworks import kpi_change, kpi_value


def test_a_change_reads_in_the_kpis_unit_without_its_sign():
    # "Down 3.9 pp", not "Down -3.9472": the word carries the direction.
    assert kpi_change(-3.9472, "percent") == "3.9 pp"
    assert kpi_change(2.5, "days") == kpi_value(2.5, "days") == "2.5 days"
    assert kpi_change(None, "percent") == "—"


def test_a_value_reads_the_locales_way():
    # en-US in the tests: grouped thousands, the percent sign and currency symbol CLDR's way.
    assert kpi_value(84.2, "percent") == "84.2%"
    assert kpi_value(1234.5, "hours") == "1,234.5 h"
    assert kpi_value(2.3149, "ratio") == "2.31"
    assert kpi_value(12000, "count") == "12,000"

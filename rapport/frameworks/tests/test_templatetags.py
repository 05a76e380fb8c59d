"""How a KPI's value and its change read on a tile."""

from rapport.frameworks.templatetags.frameworks import kpi_change, kpi_value


def test_a_change_reads_in_the_kpis_unit_without_its_sign():
    # "Down 3.9 pp", not "Down -3.9472": the word carries the direction.
    assert kpi_change(-3.9472, "percent") == "3.9 pp"
    assert kpi_change(2.5, "days") == kpi_value(2.5, "days") == "2.5 days"
    assert kpi_change(None, "percent") == "—"

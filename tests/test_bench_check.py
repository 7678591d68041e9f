"""`python -m bench --check`: reading the ratios out of RESULTS.md and judging a drop.

Harness logic only; nothing here is timed.
"""

from __future__ import annotations

from bench import check

COMMITTED = """# Benchmark results

| benchmark | .base | reference | ratio | target | |
|---|---|---|---|---|---|
| sqlite: create vs minimal | 136 req/s | 184 req/s | 74% | ≥ 85% | **missed** |
| sqlite: get by id vs minimal | 807 req/s | 894 req/s | 90% | ≥ 85% | met |
| postgres: list page 1, 1,000,000 vs 1,000 rows | p50 5.0 ms | p50 3.7 ms | 1.34× | ≤ 1.5× | met |
| memory: RSS of base serve | idle 104 MiB | | +1.2% | ≤ +10% | met |
| postgres: fan-out to 1,000 streams vs a write loop | 80 ms | 20 ms | 25% | (none) | |

<!-- notes below are kept by python -m bench -->

| benchmark | .base | reference | ratio | target | |
|---|---|---|---|---|---|
| postgres: get by id with the poll cache vs bare JSON | 2,005 req/s | 5,298 req/s | 38% | ≥ 40% | missed |
"""


def test_only_the_percentages_of_the_results_table_are_read():
    assert check.ratios(COMMITTED) == {
        "sqlite: create vs minimal": 74.0,
        "sqlite: get by id vs minimal": 90.0,
        "postgres: fan-out to 1,000 streams vs a write loop": 25.0,
    }


def test_a_drop_of_more_than_the_points_fails_and_is_named():
    now = {"sqlite: create vs minimal": 58.0, "sqlite: get by id vs minimal": 75.0}
    text, held = check.summary(check.ratios(COMMITTED), now, points=15)
    assert not held
    assert "DROP sqlite: create vs minimal: 74% → 58% (-16)" in text
    assert "ok   sqlite: get by id vs minimal: 90% → 75% (-15)" in text
    assert text.splitlines()[-1] == "check: 1 ratio(s) fell: sqlite: create vs minimal"


def test_rows_only_one_table_has_are_listed_not_judged():
    now = {"sqlite: create vs minimal": 80.0, "sqlite: upload vs minimal": 10.0}
    text, held = check.summary(check.ratios(COMMITTED), now, points=15)
    assert held
    assert "--   sqlite: get by id vs minimal: not in this run" in text
    assert "new  sqlite: upload vs minimal: 10% (not in RESULTS.md)" in text


def test_an_empty_or_missing_results_file_compares_nothing():
    text, held = check.summary(check.ratios(""), {"sqlite: create vs minimal": 1.0}, points=15)
    assert held and text.startswith("check: 0 ratios compared")

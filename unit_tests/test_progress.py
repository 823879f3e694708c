"""Issue 17 §4: the summary reports waits as the wall time the sync spent waiting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from source_fastbill.progress import Ledger, Tally, summary_lines


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_streams_waiting_side_by_side_count_once_for_the_sync() -> None:
    clock = Clock()
    ledger = Ledger(clock)
    for stream in ("invoices", "customers", "projects"):
        ledger.waited(stream, "pacing", 300)  # three lanes wait for the same window
    clock.now += 300

    lines = summary_lines(ledger, ["invoices", "customers", "projects"], {})

    assert "waited: pacing 5 min 0 s, quota 0 s, retries 0 s." in lines[0]
    assert lines[-1].endswith(
        "waited: pacing 5 min 0 s, quota 0 s, retries 0 s; elapsed 5 min 0 s."
    )


def test_a_wait_cut_short_counts_until_the_summary() -> None:
    clock = Clock()
    ledger = Ledger(clock)
    ledger.waited("invoices", "quota", 900)  # announced for 15 minutes
    clock.now += 10  # interrupted after ten seconds

    (line, total) = summary_lines(ledger, ["invoices"], {"invoices": "interrupted"})

    assert "(interrupted)" in line and "quota 10 s" in line
    assert total.endswith("elapsed 10 s.")


spans = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 30)), min_size=0, max_size=12)


@given(spans, st.integers(0, 100))
def test_waited_is_the_measure_of_the_union_of_the_waits_up_to_now(
    waits: list[tuple[int, int]], now: int
) -> None:
    tally = Tally(
        waits=[("pacing", float(start), float(start + length)) for start, length in waits]
    )
    covered = {t for start, length in waits for t in range(start, min(start + length, now))}
    assert tally.waited("pacing", float(now)) == len(covered)

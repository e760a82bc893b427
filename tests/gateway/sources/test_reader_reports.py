"""One ``sources`` entry per source, whatever order its items finish in."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gateway.sources.reader import SourceReport, combined_report

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

reports = st.builds(
    SourceReport,
    source=st.just("drugs"),
    ok=st.booleans(),
    stale=st.booleans(),
    fetched_at=st.one_of(
        st.none(), st.integers(0, 10_000).map(lambda ms: T0 + timedelta(milliseconds=ms))
    ),
    error=st.one_of(st.none(), st.sampled_from(["TIMEOUT", "HTTP_5XX", "BREAKER_OPEN"])),
)


@given(reports, reports)
def test_the_combined_report_does_not_depend_on_which_item_finished_first(
    a: SourceReport, b: SourceReport
) -> None:
    assert combined_report(a, b) == combined_report(b, a)


@given(reports, reports)
def test_the_worst_answer_wins(a: SourceReport, b: SourceReport) -> None:
    both = combined_report(a, b)
    assert both.ok == (a.ok and b.ok)
    assert both.stale == (a.stale or b.stale)
    assert (both.error is None) == (a.error is None and b.error is None)


def test_the_time_is_that_of_the_oldest_item_shown() -> None:
    older = SourceReport("drugs", True, False, T0, None)
    newer = SourceReport("drugs", True, False, T0 + timedelta(milliseconds=3), None)
    assert combined_report(newer, older).fetched_at == T0
    assert (
        combined_report(older, SourceReport("drugs", False, False, None, "TIMEOUT")).fetched_at
        == T0
    )

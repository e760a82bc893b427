"""The ambulance (103) emulator over real HTTP: Basic auth, XML of SOURCES.md 4, ground truth."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from xml.etree.ElementTree import Element

import httpx
import pytest
from defusedxml.ElementTree import fromstring

from emulators.ambulance import create_ambulance_app
from emulators.storage import create_database, database_path
from tests.servers import serve_app

AUTH = ("ehp", "emulator-ambulance")
IIN = "900101300007"
UNKNOWN = "900101300811"
HOSTILE = "Боль <b>& \"жжение\"</b> ]]> 'x'"

FULL_CALL = (
    "103-AST-2026-000451", IIN, "2026-11-20T03:12:00+05:00", "2026-11-20",
    "2026-11-20T03:27:00+05:00",
    "astana", "AST-03", "100140000004", "Ambulance station 3", "PM-1", "Surname N.", "Chest pain",
    "I21.0", "Acute transmural myocardial infarction of anterior wall", "160/95", 110, 93, 7.1,
    "HOSPITALIZED", "100140000005", "City hospital 1",
)  # fmt: skip
BARE_CALL = (
    "103-AST-2026-000100", IIN, "2026-01-05T10:00:00+05:00", "2026-01-05", None,
    "astana", None, None, None, None, None, HOSTILE,
    None, None, None, None, None, None,
    "REFUSED", "100140000005", "City hospital 1",
)  # fmt: skip
OTHER_CALL = (
    "103-ALA-2026-000007", "061211600012", "2026-11-21T12:00:00+05:00", "2026-11-21", None,
    "almaty", "ALA-01", "100140000006", 'Station "One" & Co', None, None, None,
    "I21", "Acute myocardial infarction", None, None, 97, None,
    "TREATED_ON_SITE", None, None,
)  # fmt: skip


def _tiny_ambulance(data_dir: Path) -> Path:
    db = create_database(data_dir, "ambulance")
    db.executemany(
        f"INSERT INTO call VALUES ({','.join('?' * 21)})", [FULL_CALL, BARE_CALL, OTHER_CALL]
    )
    db.commit()
    db.close()
    return database_path(data_dir, "ambulance")


@pytest.fixture(scope="module")
def tiny_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ambulance emulator over three hand-written calls."""
    db_path = _tiny_ambulance(tmp_path_factory.mktemp("ambulance"))
    with serve_app(create_ambulance_app(db_path)) as url:
        yield url


def _calls(url: str, **params: str) -> Element:
    answer = httpx.get(f"{url}/api/calls", params=params, auth=AUTH)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/xml; charset=utf-8"
    assert answer.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return fromstring(answer.content)


def test_basic_auth_is_required(tiny_url: str) -> None:
    for auth in (None, ("ehp", "wrong"), ("other", "emulator-ambulance")):
        answer = httpx.get(f"{tiny_url}/api/calls", params={"iin": IIN}, auth=auth)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic")
    answer = httpx.get(
        f"{tiny_url}/api/stats/calls?groupBy=outcome", headers={"Authorization": "Basic %%%"}
    )
    assert answer.status_code == 401


def test_a_full_call_matches_the_contract_example(tiny_url: str) -> None:
    calls = _calls(tiny_url, iin=IIN, **{"from": "2026-11-01"})
    assert (calls.tag, calls.get("iin"), calls.get("count")) == ("calls", IIN, "1")
    (call,) = calls
    assert call.get("id") == "103-AST-2026-000451"
    assert [child.tag for child in call] == [
        "received",
        "arrived",
        "station",
        "crew",
        "complaint",
        "diagnosis",
        "vitals",
        "outcome",
    ]
    assert call.findtext("received") == "2026-11-20T03:12:00+05:00"
    assert call.findtext("arrived") == "2026-11-20T03:27:00+05:00"
    station = call.find("station")
    assert (station.get("code"), station.get("bin"), station.text) == (
        "AST-03",
        "100140000004",
        "Ambulance station 3",
    )
    paramedic = call.find("crew/paramedic")
    assert (paramedic.get("id"), paramedic.text) == ("PM-1", "Surname N.")
    assert call.find("diagnosis").get("icd10") == "I21.0"
    assert call.findtext("diagnosis") == "Acute transmural myocardial infarction of anterior wall"
    assert call.find("vitals").attrib == {
        "bp": "160/95",
        "hr": "110",
        "spo2": "93",
        "glucose": "7.1",
    }
    outcome = call.find("outcome")
    assert outcome.get("code") == "HOSPITALIZED"
    assert outcome.find("hospital").get("bin") == "100140000005"
    assert outcome.findtext("hospital") == "City hospital 1"


def test_missing_elements_are_omitted_and_text_is_escaped(tiny_url: str) -> None:
    calls = _calls(tiny_url, iin=IIN)
    assert calls.get("count") == "2"
    bare = next(call for call in calls if call.get("id") == "103-AST-2026-000100")
    assert [child.tag for child in bare] == ["received", "complaint", "outcome"]
    assert bare.findtext("complaint") == HOSTILE
    # A hospital is only given with HOSPITALIZED.
    assert bare.find("outcome").get("code") == "REFUSED"
    assert bare.find("outcome/hospital") is None


def test_attributes_are_escaped_and_partial_vitals_kept(tiny_url: str) -> None:
    (call,) = _calls(tiny_url, iin="061211600012")
    assert call.find("station").text == 'Station "One" & Co'
    assert call.find("vitals").attrib == {"spo2": "97"}
    assert call.find("crew") is None and call.find("arrived") is None


def test_unknown_patient_has_count_zero(tiny_url: str) -> None:
    calls = _calls(tiny_url, iin=UNKNOWN)
    assert calls.attrib == {"iin": UNKNOWN, "count": "0"}
    assert list(calls) == []


@pytest.mark.parametrize(
    "params", [{"iin": "123"}, {}, {"iin": IIN, "from": "20.11.2026"}, {"iin": IIN + "0"}]
)
def test_bad_queries_are_400(tiny_url: str, params: dict) -> None:
    answer = httpx.get(f"{tiny_url}/api/calls", params=params, auth=AUTH)
    assert answer.status_code == 400
    assert fromstring(answer.content).tag == "error"


def _stats(url: str, **params: str) -> dict[str, tuple[str, int, int]]:
    answer = httpx.get(f"{url}/api/stats/calls", params=params, auth=AUTH)
    assert answer.status_code == 200
    root = fromstring(answer.content)
    assert root.tag == "stats"
    return {
        row.get("key"): (row.get("label"), int(row.get("calls")), int(row.get("patients")))
        for row in root.iter("row")
    }


def test_stats_group_diagnoses_by_icd10_category(tiny_url: str) -> None:
    rows = _stats(tiny_url, groupBy="diagnosis")
    # I21.0 and I21 fall in one category; its label is the category's own text.
    assert rows == {"I21": ("Acute myocardial infarction", 2, 2)}
    assert _stats(tiny_url, groupBy="diagnosis", region="astana") == {
        "I21": ("Acute transmural myocardial infarction of anterior wall", 1, 1)
    }


def test_stats_by_outcome_station_month_and_period(tiny_url: str) -> None:
    outcomes = _stats(tiny_url, groupBy="outcome")
    assert {key: value[1:] for key, value in outcomes.items()} == {
        "HOSPITALIZED": (1, 1),
        "REFUSED": (1, 1),
        "TREATED_ON_SITE": (1, 1),
    }
    assert _stats(tiny_url, groupBy="station")["ALA-01"] == ('Station "One" & Co', 1, 1)
    months = _stats(tiny_url, groupBy="month", **{"from": "2026-01-01", "to": "2026-11-20"})
    assert {key: value[1:] for key, value in months.items()} == {
        "2026-01": (1, 1),
        "2026-11": (1, 1),
    }
    assert _stats(tiny_url, groupBy="month", region="shymkent") == {}
    for bad in ({"groupBy": "weekday"}, {"groupBy": "month", "to": "2026/11/20"}):
        answer = httpx.get(f"{tiny_url}/api/stats/calls", params=bad, auth=AUTH)
        assert answer.status_code == 400


# --- against the generated population -------------------------------------------------------


@pytest.fixture(scope="module")
def population_url(population_dir: Path) -> Iterator[str]:
    """The ambulance emulator over the session's generated population."""
    app = create_ambulance_app(database_path(population_dir, "ambulance"))
    with serve_app(app) as url:
        yield url


def test_every_persons_calls_equal_the_ground_truth(
    population_url: str, ground_truth: dict
) -> None:
    with httpx.Client(base_url=population_url, auth=AUTH) as http:
        for iin, person in ground_truth["people"].items():
            answer = http.get("/api/calls", params={"iin": iin})
            assert answer.status_code == 200
            root = fromstring(answer.content)
            served = sorted(
                (
                    call.get("id"),
                    call.findtext("received"),
                    call.find("diagnosis").get("icd10")
                    if call.find("diagnosis") is not None
                    else None,
                    call.find("outcome").get("code") if call.find("outcome") is not None else None,
                    call.find("station").get("code") if call.find("station") is not None else None,
                )
                for call in root
            )
            expected = sorted(
                (c["id"], c["received"], c["diagnosisIcd10"], c["outcome"], c["stationCode"])
                for c in person["ambulanceCalls"]
            )
            assert served == expected, iin
            assert root.get("count") == str(len(expected))


def test_from_filters_by_the_day_received(population_url: str, ground_truth: dict) -> None:
    iin = ground_truth["edgeCases"]["ambulance"][0]
    calls = ground_truth["people"][iin]["ambulanceCalls"]
    day = sorted(c["received"][:10] for c in calls)[-1]
    root = _calls(population_url, iin=iin, **{"from": day})
    assert {c.get("id") for c in root} == {c["id"] for c in calls if c["received"][:10] >= day}


def _truth_stats(
    ground_truth: dict, group_by: str, start: str, end: str, region: str | None
) -> dict[str, tuple[int, int]]:
    counts: dict[str, int] = defaultdict(int)
    patients: dict[str, set[str]] = defaultdict(set)
    for iin, person in ground_truth["people"].items():
        for call in person["ambulanceCalls"]:
            day = call["received"][:10]
            if not start <= day <= end or (region and call["region"] != region):
                continue
            key = {
                "diagnosis": (call["diagnosisIcd10"] or "")[:3] or None,
                "outcome": call["outcome"],
                "station": call["stationCode"],
                "month": day[:7],
            }[group_by]
            if key is None:
                continue
            counts[key] += 1
            patients[key].add(iin)
    return {key: (counts[key], len(patients[key])) for key in counts}


@pytest.mark.parametrize("group_by", ["diagnosis", "outcome", "station", "month"])
@pytest.mark.parametrize(
    ("start", "end", "region"),
    [("2000-01-01", "2100-01-01", None), ("2025-01-01", "2026-06-30", "astana")],
)
def test_stats_equal_figures_from_the_ground_truth(
    population_url: str,
    ground_truth: dict,
    group_by: str,
    start: str,
    end: str,
    region: str | None,
) -> None:
    expected = _truth_stats(ground_truth, group_by, start, end, region)
    if start == "2000-01-01":
        assert expected, "the population has ambulance calls"
    params = {"groupBy": group_by, "from": start, "to": end} | (
        {"region": region} if region else {}
    )
    served = _stats(population_url, **params)
    assert {key: value[1:] for key, value in served.items()} == expected
    assert all(label for label, _, _ in served.values())

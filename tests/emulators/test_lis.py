"""The LIS emulator over real HTTP: SOURCES.md section 2, faults, ground truth."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from emulators.lis import create_lis_app
from emulators.serve import start_emulators
from emulators.storage import create_database, database_path
from tests.servers import free_port, serve_app

KEY = {"X-Api-Key": "emulator-lis-key"}
IIN = "900101300007"
KNOWN_NO_ORDERS = "061211600012"
UNKNOWN = "900101300811"
FLAG_CODES = {"NORMAL": "N", "LOW": "L", "HIGH": "H", "ABNORMAL": "A", None: None}


def _tiny_lis(data_dir: Path) -> Path:
    """A hand-written laboratory: one person with four orders, one known person without any."""
    db = create_database(data_dir, "lis")
    db.executemany("INSERT INTO patient VALUES (?)", [(IIN,), (KNOWN_NO_ORDERS,)])
    orders = [
        (
            "LIS-1",
            IIN,
            "2026-11-25T09:14",
            "DONE",
            "100140000001",
            "Lab & Co",
            "D1",
            "Ivanov I. I.",
        ),
        ("LIS-2", IIN, "2026-11-26T08:00", "IN_WORK", "100140000001", "Lab & Co", None, None),
        ("LIS-3", IIN, "2026-10-01T23:59", "CANCELLED", "100140000001", "Lab & Co", "D1", "X"),
        ("LIS-4", IIN, "2026-09-30T00:00", "DONE", "100140000001", "Lab & Co", "D2", "Y"),
    ]
    db.executemany("INSERT INTO lab_order VALUES (?,?,?,?,?,?,?,?)", orders)
    results = [
        (
            "LIS-1",
            1,
            "GLU",
            "14749-6",
            "Glucose",
            "5.4",
            "mmol/L",
            "3.9-6.1",
            "N",
            "2026-11-25T12:30",
        ),
        (
            "LIS-1",
            2,
            "HBSAG",
            None,
            "HBsAg",
            "negative",
            None,
            "negative",
            None,
            "2026-11-25T15:02",
        ),
        # A result row under an order still in work must not be shown.
        ("LIS-2", 1, "GLU", "14749-6", "Glucose", "9.9", "mmol/L", "3.9-6.1", "H", None),
        ("LIS-4", 1, "CRP", "1988-5", "CRP", "<0.1", "mg/L", "0-5", "L", "2026-09-30T10:00"),
    ]
    db.executemany("INSERT INTO lab_result VALUES (?,?,?,?,?,?,?,?,?,?)", results)
    db.commit()
    db.close()
    return database_path(data_dir, "lis")


@pytest.fixture(scope="module")
def tiny_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The LIS emulator over the hand-written laboratory."""
    db_path = _tiny_lis(tmp_path_factory.mktemp("lis"))
    with serve_app(create_lis_app(db_path)) as url:
        yield url


@pytest.fixture(scope="module")
def client(tiny_url: str) -> Iterator[httpx.Client]:
    """An HTTP client bound to the tiny LIS, with the right key."""
    with httpx.Client(base_url=tiny_url, headers=KEY, timeout=5) as client:
        yield client


def test_requests_without_the_right_key_are_refused(tiny_url: str) -> None:
    for headers in ({}, {"X-Api-Key": "wrong"}, {"X-Api-Key": ""}):
        answer = httpx.get(f"{tiny_url}/api/v2/patients/{IIN}/orders", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["code"] == "UNAUTHORIZED"
    answer = httpx.post(f"{tiny_url}/api/v2/orders/search", json={"iins": [IIN]})
    assert answer.status_code == 401


def test_orders_have_the_contract_shape(client: httpx.Client) -> None:
    body = client.get(f"/api/v2/patients/{IIN}/orders").json()
    assert (body["page"], body["pageSize"], body["total"]) == (1, 50, 4)
    assert [o["orderNo"] for o in body["orders"]] == ["LIS-2", "LIS-1", "LIS-3", "LIS-4"]
    done = body["orders"][1]
    assert done == {
        "orderNo": "LIS-1",
        "orderedAt": "25.11.2026 09:14",
        "status": "DONE",
        "lab": {"bin": "100140000001", "name": "Lab & Co"},
        "doctor": {"id": "D1", "fio": "Ivanov I. I."},
        "results": [
            {
                "testCode": "GLU",
                "loinc": "14749-6",
                "testName": "Glucose",
                "value": "5.4",
                "units": "mmol/L",
                "ref": "3.9-6.1",
                "flag": "N",
                "validatedAt": "25.11.2026 12:30",
            },
            {
                "testCode": "HBSAG",
                "loinc": None,
                "testName": "HBsAg",
                "value": "negative",
                "units": None,
                "ref": "negative",
                "flag": None,
                "validatedAt": "25.11.2026 15:02",
            },
        ],
    }
    in_work, cancelled = body["orders"][0], body["orders"][2]
    assert in_work["results"] == [] and cancelled["results"] == []
    assert in_work["doctor"] is None


def test_date_range_is_inclusive_of_both_days(client: httpx.Client) -> None:
    def numbers(**params: str) -> list[str]:
        answer = client.get(f"/api/v2/patients/{IIN}/orders", params=params)
        assert answer.status_code == 200
        return [o["orderNo"] for o in answer.json()["orders"]]

    assert numbers(**{"from": "01.10.2026", "to": "25.11.2026"}) == ["LIS-1", "LIS-3"]
    assert numbers(**{"from": "30.09.2026", "to": "30.09.2026"}) == ["LIS-4"]
    assert numbers(**{"from": "26.11.2026"}) == ["LIS-2"]
    assert numbers(to="30.09.2026") == ["LIS-4"]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-11-25"},
        {"to": "32.01.2026"},
        {"from": "1.1.2026"},
        {"from": "29.02.2026"},
        {"from": "26.11.2026", "to": "25.11.2026"},
        {"from": "25.11.2026 09:00"},
    ],
)
def test_bad_dates_are_400_with_a_code(client: httpx.Client, params: dict[str, str]) -> None:
    answer = client.get(f"/api/v2/patients/{IIN}/orders", params=params)
    assert answer.status_code == 400
    assert answer.json()["code"].startswith("INVALID_DATE")


@pytest.mark.parametrize(
    "params", [{"pageSize": "201"}, {"pageSize": "0"}, {"page": "0"}, {"page": "x"}]
)
def test_bad_paging_is_400(client: httpx.Client, params: dict[str, str]) -> None:
    answer = client.get(f"/api/v2/patients/{IIN}/orders", params=params)
    assert answer.status_code == 400
    assert answer.json()["code"]


def test_paging_walks_every_order_once(client: httpx.Client) -> None:
    seen = []
    for page in (1, 2, 3):
        body = client.get(
            f"/api/v2/patients/{IIN}/orders", params={"page": page, "pageSize": 2}
        ).json()
        assert (body["page"], body["pageSize"], body["total"]) == (page, 2, 4)
        seen += [o["orderNo"] for o in body["orders"]]
    assert seen == ["LIS-2", "LIS-1", "LIS-3", "LIS-4"]
    assert client.get(f"/api/v2/patients/{IIN}/orders?pageSize=200").json()["total"] == 4


def test_unknown_patient_is_404_known_without_orders_is_empty(client: httpx.Client) -> None:
    answer = client.get(f"/api/v2/patients/{UNKNOWN}/orders")
    assert answer.status_code == 404
    assert answer.json()["code"] == "PATIENT_NOT_FOUND"
    body = client.get(f"/api/v2/patients/{KNOWN_NO_ORDERS}/orders").json()
    assert body["total"] == 0 and body["orders"] == []


def test_malformed_iin_is_400(client: httpx.Client) -> None:
    for iin in ("12345", "90010130000x", "9001013000071"):
        assert client.get(f"/api/v2/patients/{iin}/orders").status_code == 400


def test_search_returns_orders_of_several_people_with_their_iin(client: httpx.Client) -> None:
    body = {"iins": [IIN, KNOWN_NO_ORDERS, UNKNOWN], "from": "01.10.2026", "to": "25.11.2026"}
    orders = client.post("/api/v2/orders/search", json=body).json()["orders"]
    assert [(o["iin"], o["orderNo"]) for o in orders] == [(IIN, "LIS-1"), (IIN, "LIS-3")]
    assert orders[0]["results"][0]["testCode"] == "GLU"


@pytest.mark.parametrize(
    "body",
    [
        {"iins": [IIN] * 51},
        {"iins": "900101300007"},
        {"iins": ["123"]},
        {"iins": [IIN], "from": "2026-01-01"},
        {},
        [],
    ],
)
def test_search_refuses_bad_bodies(client: httpx.Client, body: object) -> None:
    answer = client.post("/api/v2/orders/search", json=body)
    assert answer.status_code == 400
    assert answer.json()["code"]


def test_search_refuses_non_json(client: httpx.Client) -> None:
    answer = client.post("/api/v2/orders/search", content=b"{not json")
    assert answer.status_code == 400


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    db_path = _tiny_lis(tmp_path)
    with serve_app(create_lis_app(db_path, max_rps=2)) as url:
        statuses = []
        for _ in range(10):
            answer = httpx.get(f"{url}/api/v2/patients/{IIN}/orders", headers=KEY)
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["Retry-After"]) >= 1
                assert answer.json()["code"] == "TOO_MANY_REQUESTS"
        assert 200 in statuses and 429 in statuses


def test_faults_and_request_counting(tmp_path: Path) -> None:
    _tiny_lis(tmp_path)
    path = f"/api/v2/patients/{IIN}/orders"
    # In its own process (the LIS port is base + 4): a request held by "hang" never ends,
    # and only a separate process can be stopped without waiting for it.
    emulators = start_emulators(tmp_path, free_port() - 4, systems=("lis",))
    with emulators, httpx.Client(base_url=emulators.urls["lis"]) as http:
        assert http.delete("/__requests").json()["count"] == 0
        http.get(path, headers=KEY, params={"pageSize": "7"})
        http.get(path)  # refused requests count too
        served = http.get("/__requests").json()
        assert served["count"] == 2
        assert served["recent"][0] == {"method": "GET", "path": path, "query": "pageSize=7"}

        http.post("/__faults", json={"down": True})
        assert http.get(path, headers=KEY).status_code == 503
        http.post("/__faults", json={"error_rate": 1.0, "status": 500})
        assert http.get(path, headers=KEY).status_code == 500
        http.post("/__faults", json={"latency_ms": 3000})
        with pytest.raises(httpx.ReadTimeout):
            http.get(path, headers=KEY, timeout=0.3)
        http.post("/__faults", json={"hang": True})
        with pytest.raises(httpx.ReadTimeout):
            http.get(path, headers=KEY, timeout=0.3)
        http.delete("/__faults")
        assert http.get(path, headers=KEY).status_code == 200
        assert http.get("/__requests").json()["count"] == 7
        http.delete("/__requests")
        assert http.get("/__requests").json() == {"count": 0, "recent": []}


# --- against the generated population -------------------------------------------------------


def _lis_time(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%d.%m.%Y %H:%M")


@pytest.fixture(scope="module")
def population_url(population_dir: Path) -> Iterator[str]:
    """The LIS emulator over the session's generated population."""
    with serve_app(create_lis_app(database_path(population_dir, "lis"))) as url:
        yield url


def _expected_orders(person: dict) -> dict[str, tuple[str, str]]:
    return {o["orderNumber"]: (o["status"], _lis_time(o["orderedAt"])) for o in person["labOrders"]}


def _expected_results(person: dict) -> list[tuple]:
    return sorted(
        (
            r["orderNumber"],
            r["test"]["testCode"],
            r["test"]["loinc"],
            r["test"]["testName"],
            r["value"],
            r["unit"],
            r["referenceRange"],
            FLAG_CODES[r["flag"]],
            _lis_time(r["resultedAt"]) if r["resultedAt"] else None,
            r["labBin"],
        )
        for r in person["labResults"]
    )


def _served_results(orders: list[dict]) -> list[tuple]:
    return sorted(
        (
            o["orderNo"],
            r["testCode"],
            r["loinc"],
            r["testName"],
            r["value"],
            r["units"],
            r["ref"],
            r["flag"],
            r["validatedAt"],
            o["lab"]["bin"],
        )
        for o in orders
        for r in o["results"]
    )


def test_every_persons_orders_equal_the_ground_truth(
    population_url: str, ground_truth: dict
) -> None:
    people = ground_truth["people"]
    with httpx.Client(base_url=population_url, headers=KEY, timeout=10) as http:
        for iin, person in people.items():
            answer = http.get(f"/api/v2/patients/{iin}/orders", params={"pageSize": 200})
            if not person["inLis"]:
                assert answer.status_code == 404, iin
                assert answer.json()["code"] == "PATIENT_NOT_FOUND"
                continue
            assert answer.status_code == 200, iin
            body = answer.json()
            orders = body["orders"]
            assert body["total"] == len(orders) == len(person["labOrders"]), iin
            served = {o["orderNo"]: (o["status"], o["orderedAt"]) for o in orders}
            assert served == _expected_orders(person), iin
            assert _served_results(orders) == _expected_results(person), iin
            assert all(o["results"] == [] for o in orders if o["status"] != "DONE"), iin


def test_no_lab_history_people_are_404(population_url: str, ground_truth: dict) -> None:
    no_history = ground_truth["edgeCases"]["noLabHistory"]
    assert no_history
    for iin in no_history:
        answer = httpx.get(f"{population_url}/api/v2/patients/{iin}/orders", headers=KEY)
        assert answer.status_code == 404


def test_paging_over_a_generated_person(population_url: str, ground_truth: dict) -> None:
    iin, person = max(ground_truth["people"].items(), key=lambda item: len(item[1]["labOrders"]))
    expected = _expected_orders(person)
    assert len(expected) >= 3
    seen: list[str] = []
    page = 1
    with httpx.Client(base_url=population_url, headers=KEY) as http:
        while True:
            params = {"page": page, "pageSize": 2}
            body = http.get(f"/api/v2/patients/{iin}/orders", params=params).json()
            assert body["total"] == len(expected)
            if not body["orders"]:
                break
            seen += [o["orderNo"] for o in body["orders"]]
            page += 1
    assert len(seen) == len(set(seen)) == len(expected)
    assert set(seen) == set(expected)


def test_search_in_batches_equals_the_ground_truth(population_url: str, ground_truth: dict) -> None:
    people = ground_truth["people"]
    iins = list(people)
    with httpx.Client(base_url=population_url, headers=KEY, timeout=10) as http:
        for start in range(0, len(iins), 50):
            batch = iins[start : start + 50]
            orders = http.post("/api/v2/orders/search", json={"iins": batch}).json()["orders"]
            for iin in batch:
                mine = [o for o in orders if o["iin"] == iin]
                expected = _expected_orders(people[iin]) if people[iin]["inLis"] else {}
                assert {o["orderNo"]: (o["status"], o["orderedAt"]) for o in mine} == expected

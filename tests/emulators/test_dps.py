"""The DPS emulator over real HTTP: OAuth2, SOURCES.md section 3, ground truth, exact money."""

from __future__ import annotations

import base64
import time
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from emulators.dps import create_dps_app
from emulators.storage import create_database, database_path
from tests.servers import serve_app

CLIENT = {
    "grant_type": "client_credentials",
    "client_id": "ehp-gateway",
    "client_secret": "emulator-dps-secret",
    "scope": "read",
}
IIN = "900101300007"
OTHER = "061211600012"
UNKNOWN = "900101300811"


def _prescription(rx_id: str, iin: str, issued: str, status: str, atc: str = "A10BA02") -> tuple:
    return (
        rx_id, iin, issued, "2026-12-01", status, atc, "metformin", "Siofor", "tablet",
        500.0, "mg", 500.0, "mg", 2, "oral", 30, "500 mg twice daily",
        "P-1", "Doctor D.", "100140000002", "Polyclinic 1", "GOBMP",
    )  # fmt: skip


def _dispensation(d_id: str, iin: str, at: str, amount: str, region: str, program: str) -> tuple:
    return (
        d_id, iin, at, at[:10], "RX-1", "A10BA02", "metformin", "Siofor", "tablet",
        500.0, "mg", 60.0, "21.50", amount, program, "100140000003", "Pharmacy \"Zdorovie\"",
        region,
    )  # fmt: skip


def _tiny_dps(data_dir: Path) -> Path:
    """A hand-written drug provision system: five prescriptions, four dispensations."""
    db = create_database(data_dir, "dps")
    prescriptions = [
        _prescription("RX-1", IIN, "2026-11-01T10:00:00+05:00", "active"),
        _prescription("RX-2", IIN, "2026-10-01T10:00:00+05:00", "dispensed"),
        _prescription("RX-3", IIN, "2026-09-01T10:00:00+05:00", "expired"),
        _prescription("RX-4", IIN, "2026-11-02T10:00:00+05:00", "active", "C09AA05"),
        _prescription("RX-5", OTHER, "2026-11-03T10:00:00+05:00", "active"),
    ]
    db.executemany(f"INSERT INTO prescription VALUES ({','.join('?' * 22)})", prescriptions)
    dispensations = [
        _dispensation("D-1", IIN, "2026-10-02T11:00:00+05:00", "1290.10", "astana", "GOBMP"),
        _dispensation("D-2", IIN, "2026-11-02T11:00:00+05:00", "0.20", "astana", "OSMS"),
        _dispensation("D-3", OTHER, "2026-11-03T11:00:00+05:00", "999.70", "almaty", "GOBMP"),
        _dispensation("D-4", OTHER, "2026-11-30T23:59:00+05:00", "0.01", "almaty", "GOBMP"),
    ]
    db.executemany(f"INSERT INTO dispensation VALUES ({','.join('?' * 18)})", dispensations)
    db.commit()
    db.close()
    return database_path(data_dir, "dps")


class Dps:
    """A test client that fetches and remembers a bearer token."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)
        self.token = self.http.post("/oauth/token", data=CLIENT).json()["access_token"]

    def get(self, path: str, **params: object) -> httpx.Response:
        """GET with the bearer token."""
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.http.get(path, params=params, headers=headers)

    def post(self, path: str, body: object) -> httpx.Response:
        """POST JSON with the bearer token."""
        return self.http.post(path, json=body, headers={"Authorization": f"Bearer {self.token}"})


@pytest.fixture(scope="module")
def tiny_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The DPS emulator over the hand-written data."""
    with serve_app(create_dps_app(_tiny_dps(tmp_path_factory.mktemp("dps")))) as url:
        yield url


@pytest.fixture(scope="module")
def dps(tiny_url: str) -> Iterator[Dps]:
    """An authenticated client of the tiny DPS."""
    client = Dps(tiny_url)
    yield client
    client.http.close()


def test_token_endpoint_follows_client_credentials(tiny_url: str) -> None:
    answer = httpx.post(f"{tiny_url}/oauth/token", data=CLIENT)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert len(body["access_token"]) >= 20
    again = httpx.post(f"{tiny_url}/oauth/token", data=CLIENT).json()["access_token"]
    assert again != body["access_token"]


def test_token_endpoint_accepts_http_basic_client_auth(tiny_url: str) -> None:
    basic = base64.b64encode(b"ehp-gateway:emulator-dps-secret").decode()
    answer = httpx.post(
        f"{tiny_url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert answer.status_code == 200
    token = answer.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{tiny_url}/v1/patients/{IIN}/prescriptions", headers=headers).is_success


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        ({**CLIENT, "client_secret": "wrong"}, {}),
        ({**CLIENT, "client_id": "intruder"}, {}),
        ({"grant_type": "client_credentials"}, {}),
        ({"grant_type": "client_credentials"}, {"Authorization": "Basic bm9wZTpub3Bl"}),
        ({"grant_type": "client_credentials"}, {"Authorization": "Basic !!!"}),
    ],
)
def test_wrong_client_credentials_are_invalid_client(
    tiny_url: str, form: dict, headers: dict
) -> None:
    answer = httpx.post(f"{tiny_url}/oauth/token", data=form, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_other_grant_types_are_refused(tiny_url: str) -> None:
    answer = httpx.post(f"{tiny_url}/oauth/token", data={**CLIENT, "grant_type": "password"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer forged", "Basic abc"])
def test_calls_without_a_valid_token_are_401(tiny_url: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for path in (f"/v1/patients/{IIN}/prescriptions", "/v1/stats/dispensations?groupBy=atc"):
        answer = httpx.get(f"{tiny_url}{path}", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_token"


def test_tokens_expire_and_a_new_one_works(tmp_path: Path) -> None:
    app = create_dps_app(_tiny_dps(tmp_path), token_ttl_s=1)
    with serve_app(app) as url:
        client = Dps(url)
        path = f"/v1/patients/{IIN}/prescriptions"
        assert client.get(path).status_code == 200
        time.sleep(1.2)
        expired = client.get(path)
        assert expired.status_code == 401
        assert expired.json() == {
            "error": "invalid_token",
            "error_description": expired.json()["error_description"],
        }
        client.token = client.http.post("/oauth/token", data=CLIENT).json()["access_token"]
        assert client.get(path).status_code == 200
        client.http.close()


def test_prescription_has_the_contract_shape(dps: Dps) -> None:
    items = dps.get(f"/v1/patients/{OTHER}/prescriptions").json()["items"]
    assert items == [
        {
            "id": "RX-5",
            "issuedAt": "2026-11-03T10:00:00+05:00",
            "validUntil": "2026-12-01",
            "status": "active",
            "drug": {
                "atc": "A10BA02",
                "inn": "metformin",
                "tradeName": "Siofor",
                "form": "tablet",
                "strength": {"value": 500, "unit": "mg"},
            },
            "dosage": {
                "dose": {"value": 500, "unit": "mg"},
                "timesPerDay": 2,
                "route": "oral",
                "durationDays": 30,
                "text": "500 mg twice daily",
            },
            "prescriber": {"practitionerId": "P-1", "name": "Doctor D."},
            "organization": {"bin": "100140000002", "name": "Polyclinic 1"},
            "program": "GOBMP",
        }
    ]


def test_prescription_status_filter(dps: Dps) -> None:
    def ids(**params: str) -> set[str]:
        body = dps.get(f"/v1/patients/{IIN}/prescriptions", **params).json()
        return {item["id"] for item in body["items"]}

    assert ids(status="active") == {"RX-1", "RX-4"}
    assert ids(status="all") == {"RX-1", "RX-2", "RX-3", "RX-4"}
    assert dps.get(f"/v1/patients/{IIN}/prescriptions", status="dispensed").status_code == 400


def test_cursor_paging_walks_every_item_once(dps: Dps) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"status": "all", "limit": 1} | ({"cursor": cursor} if cursor else {})
        body = dps.get(f"/v1/patients/{IIN}/prescriptions", **params).json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert sorted(seen) == ["RX-1", "RX-2", "RX-3", "RX-4"]


@pytest.mark.parametrize("params", [{"cursor": "garbage!"}, {"limit": "0"}, {"limit": "x"}])
def test_bad_paging_is_400(dps: Dps, params: dict) -> None:
    assert dps.get(f"/v1/patients/{IIN}/prescriptions", **params).status_code == 400


def test_dispensation_shape_money_and_date_range(dps: Dps) -> None:
    path = f"/v1/patients/{IIN}/dispensations"
    items = dps.get(path, **{"from": "2026-10-02", "to": "2026-10-02"}).json()["items"]
    assert items == [
        {
            "id": "D-1",
            "dispensedAt": "2026-10-02T11:00:00+05:00",
            "prescriptionId": "RX-1",
            "drug": {
                "atc": "A10BA02",
                "inn": "metformin",
                "tradeName": "Siofor",
                "form": "tablet",
                "strength": {"value": 500, "unit": "mg"},
            },
            "quantity": 60,
            "unitPriceKzt": "21.50",
            "amountKzt": "1290.10",
            "program": "GOBMP",
            "pharmacy": {"bin": "100140000003", "name": 'Pharmacy "Zdorovie"', "region": "astana"},
        }
    ]
    every = dps.get(path).json()["items"]
    assert [item["id"] for item in every] == ["D-2", "D-1"]
    assert dps.get(path, **{"from": "2026-11-03"}).json()["items"] == []
    for bad in ({"from": "02.10.2026"}, {"to": "2026-1-1"}):
        assert dps.get(path, **bad).status_code == 400


def test_unknown_patient_is_200_with_no_items(dps: Dps) -> None:
    for path in ("prescriptions", "dispensations"):
        answer = dps.get(f"/v1/patients/{UNKNOWN}/{path}")
        assert answer.status_code == 200
        assert answer.json() == {"items": [], "next_cursor": None}


def test_batch_get_puts_the_iin_on_each_item(dps: Dps) -> None:
    body = {"iins": [IIN, OTHER, UNKNOWN], "status": "active"}
    items = dps.post("/v1/prescriptions:batchGet", body).json()["items"]
    assert sorted((item["iin"], item["id"]) for item in items) == [
        (OTHER, "RX-5"),
        (IIN, "RX-1"),
        (IIN, "RX-4"),
    ]


@pytest.mark.parametrize(
    "body", [{"iins": [IIN] * 101}, {"iins": ["1"]}, {"iins": [IIN], "status": "x"}, {}]
)
def test_batch_get_refuses_bad_bodies(dps: Dps, body: dict) -> None:
    assert dps.post("/v1/prescriptions:batchGet", body).status_code == 400


def test_stats_sum_money_exactly(dps: Dps) -> None:
    rows = dps.get("/v1/stats/dispensations", groupBy="program").json()["rows"]
    by_key = {row["key"]: row for row in rows}
    assert by_key["GOBMP"]["amountKzt"] == "2289.81"
    assert (by_key["GOBMP"]["dispensations"], by_key["GOBMP"]["patients"]) == (3, 2)
    assert by_key["OSMS"]["amountKzt"] == "0.20"
    rows = dps.get(
        "/v1/stats/dispensations", groupBy="month", region="almaty", to="2026-11-29"
    ).json()["rows"]
    assert rows == [
        {
            "key": "2026-11",
            "label": "2026-11",
            "dispensations": 1,
            "patients": 1,
            "amountKzt": "999.70",
        }
    ]
    for bad in ({"groupBy": "drug"}, {}, {"groupBy": "atc", "from": "yesterday"}):
        assert dps.get("/v1/stats/dispensations", **bad).status_code == 400


def test_faults_apply_to_the_dps(tiny_url: str) -> None:
    with httpx.Client(base_url=tiny_url) as http:
        http.post("/__faults", json={"error_rate": 1.0, "status": 502})
        assert http.post("/oauth/token", data=CLIENT).status_code == 502
        http.delete("/__faults")
        assert http.post("/oauth/token", data=CLIENT).status_code == 200


# --- against the generated population -------------------------------------------------------


@pytest.fixture(scope="module")
def population(population_dir: Path) -> Iterator[Dps]:
    """An authenticated client of the DPS emulator over the session's population."""
    with serve_app(create_dps_app(database_path(population_dir, "dps"))) as url:
        client = Dps(url)
        yield client
        client.http.close()


def _all_pages(client: Dps, path: str, **params: object) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        answer = client.get(path, **params, **({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200
        items += answer.json()["items"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return items


def _served_prescription(item: dict) -> dict:
    return {
        "id": item["id"],
        "status": item["status"],
        "atc": item["drug"]["atc"],
        "inn": item["drug"]["inn"],
        "dose": item["dosage"]["dose"],
        "timesPerDay": item["dosage"]["timesPerDay"],
        "route": item["dosage"]["route"],
        "durationDays": item["dosage"]["durationDays"],
        "issuedAt": item["issuedAt"],
        "validUntil": item["validUntil"],
        "program": item["program"],
    }


def _served_dispensation(item: dict) -> tuple:
    return (
        item["id"],
        item["drug"]["atc"],
        Decimal(str(item["quantity"])),
        item["amountKzt"],
        item["program"],
        item["dispensedAt"],
        item["pharmacy"]["bin"],
        item["pharmacy"]["region"],
        item["prescriptionId"],
    )


def _expected_dispensation(d: dict) -> tuple:
    return (
        d["id"],
        d["drug"]["code"],
        Decimal(str(d["quantity"])),
        d["amountKzt"],
        d["program"],
        d["dispensedAt"],
        d["pharmacy"]["bin"],
        d["pharmacy"]["region"],
        d["prescriptionId"],
    )


def _key(item: dict) -> str:
    return item["id"]


def test_prescriptions_and_dispensations_equal_the_ground_truth(
    population: Dps, ground_truth: dict
) -> None:
    for iin, person in ground_truth["people"].items():
        served = _all_pages(population, f"/v1/patients/{iin}/prescriptions", status="all")
        expected = sorted(person["prescriptions"], key=_key)
        assert sorted(map(_served_prescription, served), key=_key) == expected, iin
        active = _all_pages(population, f"/v1/patients/{iin}/prescriptions", status="active")
        assert {p["id"] for p in active} == {
            p["id"] for p in person["prescriptions"] if p["status"] == "active"
        }, iin
        served = _all_pages(population, f"/v1/patients/{iin}/dispensations")
        assert sorted(map(_served_dispensation, served)) == sorted(
            map(_expected_dispensation, person["dispensations"])
        ), iin


def test_paging_over_a_generated_person(population: Dps, ground_truth: dict) -> None:
    iin, person = max(ground_truth["people"].items(), key=lambda i: len(i[1]["dispensations"]))
    assert len(person["dispensations"]) >= 3
    served = _all_pages(population, f"/v1/patients/{iin}/dispensations", limit=2)
    assert len(served) == len({d["id"] for d in served}) == len(person["dispensations"])


def test_batch_get_equals_the_ground_truth(population: Dps, ground_truth: dict) -> None:
    people = ground_truth["people"]
    iins = list(people)
    for start in range(0, len(iins), 100):
        batch = iins[start : start + 100]
        answer = population.post("/v1/prescriptions:batchGet", {"iins": batch, "status": "active"})
        served = sorted((item["iin"], item["id"]) for item in answer.json()["items"])
        expected = sorted(
            (iin, p["id"])
            for iin in batch
            for p in people[iin]["prescriptions"]
            if p["status"] == "active"
        )
        assert served == expected


def _truth_stats(
    ground_truth: dict, group_by: str, start: str, end: str, region: str | None
) -> dict[str, tuple[int, int, Decimal]]:
    counts: dict[str, int] = defaultdict(int)
    patients: dict[str, set[str]] = defaultdict(set)
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    for iin, person in ground_truth["people"].items():
        for d in person["dispensations"]:
            day = d["dispensedAt"][:10]
            if not start <= day <= end or (region and d["pharmacy"]["region"] != region):
                continue
            key = {
                "atc": d["drug"]["code"],
                "region": d["pharmacy"]["region"],
                "month": day[:7],
                "program": d["program"],
                "pharmacy": d["pharmacy"]["bin"],
            }[group_by]
            counts[key] += 1
            patients[key].add(iin)
            amounts[key] += Decimal(d["amountKzt"])
    return {key: (counts[key], len(patients[key]), amounts[key]) for key in counts}


@pytest.mark.parametrize("group_by", ["atc", "region", "month", "program", "pharmacy"])
@pytest.mark.parametrize(
    ("start", "end", "region"),
    [("2000-01-01", "2100-01-01", None), ("2026-01-01", "2026-06-30", "almaty")],
)
def test_stats_equal_figures_from_the_ground_truth(
    population: Dps, ground_truth: dict, group_by: str, start: str, end: str, region: str | None
) -> None:
    expected = _truth_stats(ground_truth, group_by, start, end, region)
    if start == "2000-01-01":
        assert expected, "the population has dispensations"
    params = {"groupBy": group_by, "from": start, "to": end} | (
        {"region": region} if region else {}
    )
    rows = population.get("/v1/stats/dispensations", **params).json()["rows"]
    served = {
        row["key"]: (row["dispensations"], row["patients"], Decimal(row["amountKzt"]))
        for row in rows
    }
    assert served == expected
    for row in rows:
        assert row["amountKzt"] == f"{Decimal(row['amountKzt']):.2f}"
        assert row["label"]

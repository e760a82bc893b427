"""Trusted documents over real HTTP: the manifest `python -m gateway documents build` writes
from docs/queries, served by id (GraphQL over HTTP's documentId and Apollo's extension, POST
and GET); with `require = true` anything else is refused before a source is asked."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse

from tests.e2e.conftest import Gateway, Stack, config_data, random_subject
from tests.e2e.test_audit_trail import to_toml
from tests.e2e.test_resilience import people
from tests.e2e.test_shared_cache import REPO
from tests.servers import free_port

QUERIES = REPO / "docs" / "queries"
OWN = QUERIES / "patient.graphql"  # query MyPassport($iin: IIN!)
UNLISTED = "query($iin: IIN!) { passport(iin: $iin) { identity { fullName } } }"
NOT_FOUND = {
    "data": None,
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ],
}


def build(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m gateway documents build ARGUMENTS`, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", "documents", "build", *arguments],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest built from the repository's defaults (docs/queries and the web app's)."""
    path = tmp_path_factory.mktemp("documents") / "trusted-documents.json"
    done = build("--out", str(path))
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture(scope="module")
def patient(stack: Stack) -> dict[str, Any]:
    """A person of the register, their ground truth and a token of their own."""
    iin = people(stack)[0]
    token = stack.token("patient", iin=iin, subject=random_subject())
    return {"iin": iin, "token": token, "truth": stack.ground_truth["people"][iin]}


@pytest.fixture(scope="module")
def strict(stack: Stack, manifest: Path) -> Iterator[Gateway]:
    """A gateway that runs only the manifest's documents."""
    with stack.fresh_gateway(documents={"path": str(manifest), "require": True}) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def lenient(stack: Stack, manifest: Path) -> Iterator[Gateway]:
    """A gateway that knows the manifest but still runs free text."""
    with stack.fresh_gateway(documents={"path": str(manifest), "require": False}) as gateway:
        yield gateway


def post(gateway: Gateway, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/graphql",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def get(gateway: Gateway, token: str, params: dict[str, str]) -> httpx.Response:
    return httpx.get(
        f"{gateway.url}/graphql",
        params=params,
        headers={"Authorization": f"Bearer {token}", "Accept": "*/*"},
        timeout=30,
    )


def own_name(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "errors" not in body, body["errors"]
    return body["data"]["passport"]["identity"]["fullName"]


# --- the build command --------------------------------------------------------------------


def test_the_build_covers_every_documented_query_and_is_stable(manifest: Path) -> None:
    text = manifest.read_text(encoding="utf-8")
    again = build()
    assert again.returncode == 0, again.stderr
    assert again.stdout == text  # the same files give the same bytes
    operations = json.loads(text)["operations"]
    by_id = {entry["id"]: entry for entry in operations}
    files = sorted(QUERIES.glob("*.graphql"))
    assert files
    for path in files:
        source = path.read_text(encoding="utf-8")
        (operation,) = [
            d for d in parse(source).definitions if isinstance(d, OperationDefinitionNode)
        ]
        entry = by_id[sha256(source)]  # one operation per file: the id is the file's sha256
        assert entry["name"] == operation.name.value
        assert entry["body"] == source
    assert [entry["name"] for entry in operations] == sorted(e["name"] for e in operations)


def test_a_source_that_is_not_a_document_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "broken.graphql").write_text("query Broken { passport(iin: ", encoding="utf-8")
    done = build("--out", str(tmp_path / "out.json"), str(tmp_path))
    assert done.returncode == 1
    assert "broken.graphql" in done.stderr
    assert not (tmp_path / "out.json").exists()


# --- require = true -----------------------------------------------------------------------


def test_an_unknown_document_is_refused_and_no_source_asked(
    stack: Stack, strict: Gateway, patient: dict[str, Any]
) -> None:
    stack.reset_requests()
    variables = {"iin": patient["iin"]}
    unlisted_hash = {"persistedQuery": {"version": 1, "sha256Hash": sha256(UNLISTED)}}
    refusals = [
        post(strict, patient["token"], {"query": UNLISTED, "variables": variables}),
        post(
            strict, patient["token"], {"documentId": f"sha256:{'0' * 64}", "variables": variables}
        ),
        post(strict, patient["token"], {"extensions": unlisted_hash, "variables": variables}),
        get(strict, patient["token"], {"query": UNLISTED, "variables": json.dumps(variables)}),
    ]
    for answer in refusals:
        # Apollo's convention: HTTP 200 with the code, so its clients read the error.
        assert answer.status_code == 200, answer.text
        assert answer.json() == NOT_FOUND
        assert answer.headers["cache-control"] == "no-store"
    assert set(stack.request_counts().values()) == {0}


def test_a_listed_document_is_served_by_document_id(
    strict: Gateway, patient: dict[str, Any]
) -> None:
    variables = {"iin": patient["iin"]}
    document_id = f"sha256:{sha256(OWN.read_text(encoding='utf-8'))}"
    truth = patient["truth"]["identity"]["fullName"]
    answer = post(strict, patient["token"], {"documentId": document_id, "variables": variables})
    assert own_name(answer) == truth
    by_get = get(
        strict, patient["token"], {"documentId": document_id, "variables": json.dumps(variables)}
    )
    assert own_name(by_get) == truth


def test_a_listed_document_is_served_by_apollos_extension(
    strict: Gateway, patient: dict[str, Any]
) -> None:
    variables = {"iin": patient["iin"]}
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha256(OWN.read_text("utf-8"))}}
    truth = patient["truth"]["identity"]["fullName"]
    answer = post(strict, patient["token"], {"extensions": persisted, "variables": variables})
    assert own_name(answer) == truth
    params = {"extensions": json.dumps(persisted), "variables": json.dumps(variables)}
    assert own_name(get(strict, patient["token"], params)) == truth
    # A frontend sending the listed text itself runs it too.
    text = {"query": OWN.read_text("utf-8"), "variables": variables}
    assert own_name(post(strict, patient["token"], text)) == truth


def test_a_text_that_is_not_its_hash_is_bad_input(strict: Gateway, patient: dict[str, Any]) -> None:
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha256(OWN.read_text("utf-8"))}}
    body = {"query": UNLISTED, "extensions": persisted, "variables": {"iin": patient["iin"]}}
    answer = post(strict, patient["token"], body)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_without_a_token_it_is_still_unauthenticated(strict: Gateway) -> None:
    answer = httpx.post(f"{strict.url}/graphql", json={"query": UNLISTED}, timeout=30)
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- require = false ----------------------------------------------------------------------


def test_without_require_listed_ids_and_free_text_both_run(
    lenient: Gateway, patient: dict[str, Any]
) -> None:
    variables = {"iin": patient["iin"]}
    truth = patient["truth"]["identity"]["fullName"]
    document_id = f"sha256:{sha256(OWN.read_text('utf-8'))}"
    assert (
        own_name(
            post(lenient, patient["token"], {"documentId": document_id, "variables": variables})
        )
        == truth
    )
    assert (
        own_name(post(lenient, patient["token"], {"query": UNLISTED, "variables": variables}))
        == truth
    )
    unknown = post(
        lenient, patient["token"], {"documentId": f"sha256:{'1' * 64}", "variables": variables}
    )
    assert unknown.json() == NOT_FOUND  # an id names nothing to run


# --- start-up -----------------------------------------------------------------------------


def test_a_manifest_with_a_wrong_hash_stops_start_up_naming_the_entry(
    stack: Stack, manifest: Path, tmp_path: Path
) -> None:
    data = json.loads(manifest.read_text(encoding="utf-8"))
    index = next(i for i, e in enumerate(data["operations"]) if e["name"] == "NursingView")
    data["operations"][index]["body"] = data["operations"][index]["body"].replace(
        "allergies", "labResults { value } allergies"
    )
    spoiled = tmp_path / "spoiled.json"
    spoiled.write_text(json.dumps(data), encoding="utf-8")
    config = tmp_path / "gateway.toml"
    sections = {
        "server": {"port": free_port()},
        "documents": {"path": str(spoiled), "require": True},
        "audit": {"database_url": f"sqlite:///{tmp_path / 'audit.db'}"},
    }
    config.write_text(
        to_toml(config_data(stack.directory, stack.urls, stack.issuer, sections)), "utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"operations[{index}] (NursingView)" in done.stderr
    assert "is not the SHA-256 of its body" in done.stderr

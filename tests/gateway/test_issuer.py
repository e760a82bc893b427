"""The demo issuer: keys on disk, tokens that TokenVerifier accepts, the `token` command."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gateway.auth.issuer import DEMO_AUDIENCE, DEMO_ISSUER, DemoIssuer, main
from gateway.auth.principal import Principal, Role
from gateway.auth.tokens import TokenVerifier
from gateway.config import AuthSettings
from gateway.errors import Unauthenticated

PATIENT_IIN = "900101300007"
ORG_BIN = "061211600012"


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo-keys")
    DemoIssuer.create(directory)
    return directory


def verifier_for(directory: Path) -> TokenVerifier:
    return TokenVerifier(
        AuthSettings(
            issuer=DEMO_ISSUER,
            audience=DEMO_AUDIENCE,
            jwks_file=str(directory / "jwks.json"),
            algorithms=("RS256",),
        )
    )


def test_files_written_private_key_owner_only(key_dir: Path) -> None:
    private = key_dir / "demo-idp-key.json"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    public = json.loads((key_dir / "jwks.json").read_text(encoding="utf-8"))
    (key,) = public["keys"]
    assert key["kty"] == "RSA" and key["kid"] and key["alg"] == "RS256"
    assert "d" not in key and "p" not in key  # no private parts published
    assert "d" in json.loads(private.read_text(encoding="utf-8"))


def test_existing_key_is_loaded_not_replaced(key_dir: Path) -> None:
    first = DemoIssuer.create(key_dir)
    second = DemoIssuer.create(key_dir)
    assert first.key.kid == second.key.kid
    assert first.jwks_path == key_dir / "jwks.json"


@pytest.mark.parametrize(
    ("role", "kwargs", "expected"),
    [
        (
            Role.PATIENT,
            {"iin": PATIENT_IIN},
            Principal(subject="s", role=Role.PATIENT, iin=PATIENT_IIN),
        ),
        (
            Role.DOCTOR,
            {"org_bin": ORG_BIN, "practitioner_id": "P-1"},
            Principal(subject="s", role=Role.DOCTOR, org_bin=ORG_BIN, practitioner_id="P-1"),
        ),
        (
            Role.NURSE,
            {"org_bin": ORG_BIN, "practitioner_id": "P-2"},
            Principal(subject="s", role=Role.NURSE, org_bin=ORG_BIN, practitioner_id="P-2"),
        ),
        (
            Role.EMERGENCY,
            {"org_bin": ORG_BIN, "practitioner_id": "P-3"},
            Principal(subject="s", role=Role.EMERGENCY, org_bin=ORG_BIN, practitioner_id="P-3"),
        ),
        (
            Role.MANAGER,
            {"region": "astana"},
            Principal(subject="s", role=Role.MANAGER, region="astana"),
        ),
    ],
)
async def test_issued_tokens_verify(
    key_dir: Path, role: Role, kwargs: dict[str, str], expected: Principal
) -> None:
    token = DemoIssuer.create(key_dir).issue(role, "s", **kwargs)
    assert await verifier_for(key_dir).verify(f"Bearer {token}") == expected


async def test_expired_and_foreign_issuer_tokens_fail(key_dir: Path, tmp_path: Path) -> None:
    verifier = verifier_for(key_dir)
    expired = DemoIssuer.create(key_dir).issue(Role.DOCTOR, "s", ttl_s=-3600)
    with pytest.raises(Unauthenticated):
        await verifier.verify(f"Bearer {expired}")
    stranger = DemoIssuer.create(tmp_path / "other").issue(Role.DOCTOR, "s")  # another key
    with pytest.raises(Unauthenticated):
        await verifier.verify(f"Bearer {stranger}")
    other_audience = DemoIssuer.create(key_dir, audience="someone-else").issue(Role.DOCTOR, "s")
    with pytest.raises(Unauthenticated):
        await verifier.verify(f"Bearer {other_audience}")


async def test_token_command_prints_a_verifiable_token(
    key_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--role", "patient", "--iin", PATIENT_IIN, "--key-dir", str(key_dir)]
    assert main(argv) == 0
    token = capsys.readouterr().out.strip()
    principal = await verifier_for(key_dir).verify(f"Bearer {token}")
    assert principal.role is Role.PATIENT and principal.iin == PATIENT_IIN
    assert principal.subject == "demo-patient"


def test_token_command_refuses_patient_without_iin_and_unknown_role(key_dir: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--role", "patient", "--key-dir", str(key_dir)])
    with pytest.raises(SystemExit):
        main(["--role", "admin", "--key-dir", str(key_dir)])


@pytest.mark.parametrize(
    "extra",
    [
        ["--role", "patient", "--iin", "123"],
        ["--role", "patient", "--iin", PATIENT_IIN[:-1] + str((int(PATIENT_IIN[-1]) + 1) % 10)],
        ["--role", "nurse", "--org-bin", "000000000001", "--practitioner-id", "P-1"],
        ["--role", "nurse", "--org-bin", ORG_BIN],
        ["--role", "doctor", "--practitioner-id", "P-1"],
        ["--role", "emergency"],
        ["--role", "patient", "--iin", PATIENT_IIN, "--ttl", "0"],
    ],
)
def test_token_command_refuses_what_the_gateway_would_refuse(
    key_dir: Path, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*extra, "--key-dir", str(key_dir)])
    assert exited.value.code == 2
    assert capsys.readouterr().out == ""  # no token printed

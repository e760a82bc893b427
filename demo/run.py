"""``python -m demo`` (and ``python -m gateway demo``): emulators, a synthetic population, a
token issuer, the gateway.

Everything lives under ``var/demo`` (generated once, reused while the day and seed match).
The printed tokens are for real people of the population: a patient, a nurse and a doctor
of that patient's polyclinic, an ambulance paramedic, a parent of a child, and a national
manager. A small notifier (``demo/notifier.py``) receives the patient notifications of
break-glass and emergency reads and prints what the patient would be told.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from demo.idp import create_idp, demo_people
from demo.notifier import LANGUAGES, running_notifier
from emulators.serve import SYSTEMS, ensure_population, sources_toml, start_emulators
from gateway.app import create_app
from gateway.auth.issuer import DEMO_AUDIENCE, DEMO_ISSUER, DemoIssuer
from gateway.config import load_settings
from gateway.logs import configure_logging

DEMO_DIR = Path("var/demo")
APP_CLIENT_ID = "ehp-web"
EXAMPLE_QUERY = """{
  passport(iin: "%s") {
    identity { fullName birthDate age region }
    careTeam { attachedOrganization { name } generalPractitioner { name } }
    allergies { substance { display } criticality reactions }
    problems { code { code display } status onset provenance { source region } }
    currentMedications { name dose { value unit } timesPerDay }
    anthropometrics { weightKg heightCm bmi }
    sources { source ok stale fetchedAt error }
  }
}"""


@dataclass(frozen=True)
class DemoCast:
    """The people the demo's tokens are for, picked from the ground truth."""

    patient: dict[str, Any]
    doctor: dict[str, Any]
    nurse: dict[str, Any]
    paramedic: dict[str, Any]
    parent: dict[str, Any] | None = None  # an adult with children they may read
    child: dict[str, Any] | None = None


def pick_cast(truth: dict[str, Any]) -> DemoCast:
    """A patient with records in two regions, and staff of their polyclinic and of 103."""
    people = truth["people"]
    candidates = truth["edgeCases"]["twoRegions"] or list(people)
    patient = max(
        (people[iin] for iin in candidates),
        key=lambda p: (len(p["problems"]) + len(p["currentMedications"]), p["identity"]["iin"]),
    )
    clinic = patient["careTeam"]["attachedOrganization"]["bin"]
    staff = truth["practitioners"]

    def first(qualifier: str, org_bin: str | None = None) -> dict[str, Any]:
        for person in staff:
            if qualifier in person["qualification"].lower() and (
                org_bin is None or person["orgBin"] == org_bin
            ):
                return person
        raise LookupError(f"no {qualifier} in the population")

    parents = sorted(
        (iin for iin, person in people.items() if person["dependants"]),
        key=lambda iin: (-len(people[iin]["dependants"]), iin),
    )
    parent = people[parents[0]] if parents else None
    child = people[parent["dependants"][0]] if parent else None
    return DemoCast(
        parent=parent,
        child=child,
        patient=patient,
        doctor=first("врач общей практики", clinic),
        nurse=first("сестра", clinic),
        paramedic=first("фельдшер"),
    )


def write_config(
    directory: Path,
    urls: dict[str, str],
    issuer: DemoIssuer,
    port: int,
    idp_url: str,
    notifier_url: str | None = None,
) -> Path:
    """The gateway's TOML for the demo (GraphiQL and introspection on, the web passport signing
    in at ``idp_url``); with ``notifier_url``, the patient notifications go there, signed with
    the demo's notification secret."""
    path = directory / "gateway.toml"
    key_path = directory / "audit.key"
    if not key_path.exists():
        write_secret(key_path, secrets.token_hex(32))
    notifications = ""
    if notifier_url is not None:
        notifications = f"""
[notifications]
webhook_url = "{notifier_url}"
secret = "{notification_secret(directory)}"
max_attempts = 20
"""
    text = f"""# Written by `python -m gateway demo`; the shape of shared/contracts/CONFIG.md.
[server]
host = "127.0.0.1"
port = {port}
introspection = true
cors_origins = []

[auth]
issuer = "{DEMO_ISSUER}"
audience = "{DEMO_AUDIENCE}"
jwks_file = "{issuer.jwks_path.resolve()}"
algorithms = ["RS256", "ES256"]
leeway_s = 30

[cache]
backend = "memory"
max_stale_s = 86400

[audit]
database_url = "sqlite:///{(directory / "audit.db").resolve()}"
patient_key = "{key_path.read_text().strip()}"

[policy]
suppression_k = 5
emergency_deadline_ms = 800
{notifications}
[app]
enabled = true
oidc_issuer = "{idp_url}"
oidc_client_id = "{APP_CLIENT_ID}"
default_language = "kk"

{sources_toml(urls)}"""
    write_secret(path, text)  # it holds the audit's patient key
    return path


def notification_secret(directory: Path) -> str:
    """The secret the gateway signs notifications with and the demo notifier checks (made once)."""
    path = directory / "notify.key"
    if not path.exists():
        write_secret(path, secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip()


def write_secret(path: Path, text: str) -> None:
    """Write a file only its owner may read (0600), whatever the umask."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an older file of ours may have been made readable
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def taken_ports(ports: Sequence[int], host: str = "127.0.0.1") -> list[int]:
    """The ports among ``ports`` that something already listens on (or we may not bind)."""
    taken = []
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                taken.append(port)
    return taken


def print_welcome(port: int, issuer: DemoIssuer, cast: DemoCast) -> None:
    """The GraphiQL address, one token per role, and an example query."""
    patient_iin = cast.patient["identity"]["iin"]
    tokens = [
        ("patient", "patient", cast.patient["identity"]["fullName"], {"iin": patient_iin}),
        ("doctor", "doctor", cast.doctor["name"], _staff_claims(cast.doctor)),
        ("nurse", "nurse", cast.nurse["name"], _staff_claims(cast.nurse)),
        ("emergency", "emergency", cast.paramedic["name"], _staff_claims(cast.paramedic)),
        ("manager", "manager", "national health manager", {}),
    ]
    if cast.parent is not None and cast.child is not None:
        parent, child = cast.parent["identity"], cast.child["identity"]
        who = f"{parent['fullName']}, parent of {child['fullName']} IIN {child['iin']}"
        tokens.append(("patient", "parent", who, {"iin": parent["iin"]}))
    out = sys.stdout
    out.write(f"\nGraphiQL: http://127.0.0.1:{port}/graphql\n")
    out.write(
        f"Patient of the examples: {cast.patient['identity']['fullName']} IIN {patient_iin}\n"
    )
    out.write("Tokens (header  Authorization: Bearer <token>):\n")
    for role, label, who, claims in tokens:
        token = issuer.issue(role, f"demo-{label}", ttl_s=12 * 3600, **claims)
        out.write(f"\n[{label}] {who} {json.dumps(claims, ensure_ascii=False)}\n{token}\n")
    out.write("\nExample query (as the patient, doctor or nurse):\n")
    out.write(EXAMPLE_QUERY % patient_iin + "\n")
    out.write(f'Emergency crew: {{ emergency(iin: "{patient_iin}", reason: "call 103") ')
    out.write("{ bloodGroup allergies { substance { display } } } }\n")
    out.write("Parent (docs/queries/guardian.graphql): { dependants { iin fullName age } }\n")
    out.flush()


def serve_in_background(app: Any, port: int) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` in a daemon thread (it ends with the demo)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # main owns them
    threading.Thread(target=server.run, daemon=True, name="demo-idp").start()


def _staff_claims(person: dict[str, Any]) -> dict[str, str]:
    return {"practitioner_id": person["id"], "org_bin": person["orgBin"]}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the whole demo until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m gateway demo", description=__doc__)
    parser.add_argument("--population", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--port", type=int, default=8000, help="the gateway's port")
    parser.add_argument("--idp-port", type=int, help="the demo identity provider's (port + 1)")
    parser.add_argument("--emulator-port-base", type=int, default=9101)
    parser.add_argument("--notifier-port", type=int, default=8099, help="the demo notifier's port")
    parser.add_argument(
        "--language", choices=LANGUAGES, default="kk", help="language of the notifications shown"
    )
    parser.add_argument("--dir", type=Path, default=DEMO_DIR)
    args = parser.parse_args(argv)
    idp_port = args.idp_port or args.port + 1
    gateway_taken = taken_ports([args.port, args.notifier_port])
    idp_taken = taken_ports([idp_port])
    emulators_taken = taken_ports(
        range(args.emulator_port_base, args.emulator_port_base + len(SYSTEMS))
    )
    if gateway_taken or idp_taken or emulators_taken:
        # Printing tokens for a gateway that is not ours would send them to someone else.
        if gateway_taken:
            for port in gateway_taken:
                option = "--port" if port == args.port else "--notifier-port"
                sys.stderr.write(
                    f"demo: port {port} is taken; choose another with {option} "
                    f"(e.g. {option} {port + 10})\n"
                )
        if idp_taken:
            sys.stderr.write(
                f"demo: port {idp_port} (identity provider) is taken; choose another with "
                "--idp-port\n"
            )
        if emulators_taken:
            ports = ", ".join(map(str, emulators_taken))
            sys.stderr.write(
                f"demo: emulator port(s) {ports} taken (the emulators use "
                f"{args.emulator_port_base}..{args.emulator_port_base + len(SYSTEMS) - 1}); "
                "choose another base with --emulator-port-base (e.g. --emulator-port-base 9201)\n"
            )
        return 2
    directory: Path = args.dir
    data_dir = directory / "population"
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_population(data_dir, args.population, args.seed)
    truth = json.loads((data_dir / "ground_truth.json").read_text(encoding="utf-8"))
    issuer = DemoIssuer.create(directory)
    secret = notification_secret(directory)
    cast = pick_cast(truth)
    idp_url = f"http://127.0.0.1:{idp_port}"
    with (
        start_emulators(data_dir, args.emulator_port_base) as emulators,
        running_notifier(secret, args.notifier_port, args.language) as notifier_url,
    ):
        config = write_config(directory, emulators.urls, issuer, args.port, idp_url, notifier_url)
        settings = load_settings(config)
        print_welcome(args.port, issuer, cast)
        app_uris = [f"http://{host}:{args.port}/app/" for host in ("127.0.0.1", "localhost")]
        idp = create_idp(issuer, idp_url, {APP_CLIENT_ID: app_uris}, demo_people(truth, cast))
        serve_in_background(idp, idp_port)
        sys.stdout.write(
            f"Web passport: {app_uris[0]} (sign in as any demo person at {idp_url})\n"
            f"Patient notifications (break-glass, emergency) are printed here ({args.language}).\n"
            f"Config: {config}\nStop with Ctrl+C.\n"
        )
        configure_logging("WARNING")
        uvicorn.run(
            create_app(settings),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            log_config=None,  # keep the redacting handler
        )
    return 0

"""The demo's local token issuer: an RS256 key on disk and tokens shaped like the national IdP's."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import RSAKey

from gateway.auth.principal import Role
from gateway.iin import is_valid_iin

DEMO_ISSUER = "http://127.0.0.1/demo-idp"
DEMO_AUDIENCE = "ehp-gateway"
DEFAULT_KEY_DIR = Path("var/demo")
PRIVATE_KEY_FILE = "demo-idp-key.json"  # private JWK, readable by the owner only
JWKS_FILE = "jwks.json"  # public JWKS, for `auth.jwks_file`


@dataclass(frozen=True)
class DemoIssuer:
    """Signs demo tokens with a key kept in one directory."""

    key: RSAKey
    directory: Path
    issuer: str = DEMO_ISSUER
    audience: str = DEMO_AUDIENCE

    @classmethod
    def create(
        cls, directory: Path, issuer: str = DEMO_ISSUER, audience: str = DEMO_AUDIENCE
    ) -> DemoIssuer:
        """Load the key from `directory`, or generate and save one (private JWK + public JWKS)."""
        directory = Path(directory)
        private_path = directory / PRIVATE_KEY_FILE
        if private_path.exists():
            key = RSAKey.import_key(json.loads(private_path.read_text(encoding="utf-8")))
        else:
            key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"})
            key.ensure_kid()  # RFC 7638 thumbprint
            directory.mkdir(parents=True, exist_ok=True)
            _write_private(private_path, json.dumps(key.as_dict(private=True)))
        jwks_path = directory / JWKS_FILE
        public = {"keys": [key.as_dict(private=False)]}
        if not jwks_path.exists() or json.loads(jwks_path.read_text(encoding="utf-8")) != public:
            jwks_path.write_text(json.dumps(public, indent=2), encoding="utf-8")
        return cls(key=key, directory=directory, issuer=issuer, audience=audience)

    @property
    def jwks_path(self) -> Path:
        """The public JWKS file to name in the gateway's `auth.jwks_file`."""
        return self.directory / JWKS_FILE

    def issue(
        self,
        role: Role | str,
        subject: str,
        iin: str | None = None,
        org_bin: str | None = None,
        practitioner_id: str | None = None,
        region: str | None = None,
        ttl_s: int = 3600,
    ) -> str:
        """A signed RS256 token for `role` and `subject`, valid for `ttl_s` seconds."""
        role = role if isinstance(role, Role) else Role(role.upper())
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "role": role.claim,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_s,
        }
        optional = {
            "iin": iin,
            "org_bin": org_bin,
            "practitioner_id": practitioner_id,
            "region": region,
        }
        claims.update({name: value for name, value in optional.items() if value is not None})
        header = {"alg": "RS256", "kid": str(self.key.kid)}
        return jwt.encode(header, claims, self.key, algorithms=["RS256"])


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m gateway token ...`: print one demo token."""
    parser = argparse.ArgumentParser(
        prog="python -m gateway token", description="Print a token signed by the demo issuer."
    )
    parser.add_argument("--role", required=True, choices=[r.claim for r in Role])
    parser.add_argument("--subject", help="the `sub` claim (default: demo-ROLE)")
    parser.add_argument("--iin", help="patients: their IIN")
    parser.add_argument("--org-bin", help="staff: BIN of their organisation")
    parser.add_argument("--practitioner-id", help="staff: practitioner register id")
    parser.add_argument("--region", help="managers: their region (absent = national)")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    parser.add_argument("--key-dir", type=Path, default=DEFAULT_KEY_DIR)
    parser.add_argument("--issuer", default=DEMO_ISSUER)
    parser.add_argument("--audience", default=DEMO_AUDIENCE)
    args = parser.parse_args(argv)
    if args.role == "patient" and not args.iin:
        parser.error("--iin is required for --role patient")
    if args.role in ("emergency", "nurse", "doctor") and not (
        args.practitioner_id and args.org_bin
    ):
        parser.error(f"--practitioner-id and --org-bin are required for --role {args.role}")
    # The gateway refuses tokens whose iin or BIN fails the check digit: say so now.
    if args.iin is not None and not is_valid_iin(args.iin):
        parser.error("--iin is not a valid IIN (12 digits with a valid check digit)")
    if args.org_bin is not None and not is_valid_iin(args.org_bin):
        parser.error("--org-bin is not a valid BIN (12 digits with a valid check digit)")
    if args.ttl < 1:
        parser.error("--ttl must be at least 1 second")
    issuer = DemoIssuer.create(args.key_dir, issuer=args.issuer, audience=args.audience)
    token = issuer.issue(
        args.role,
        args.subject or f"demo-{args.role}",
        iin=args.iin,
        org_bin=args.org_bin,
        practitioner_id=args.practitioner_id,
        region=args.region,
        ttl_s=args.ttl,
    )
    sys.stdout.write(token + "\n")
    return 0

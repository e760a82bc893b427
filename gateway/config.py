"""Typed settings loaded from the gateway's TOML file (contracts/CONFIG.md).

Every key has a documented default or is required; a bad file stops start-up with a
`ConfigError` naming the key path (e.g. ``sources[2].timeout_ms``, 0-based). Any value
may be written as ``env:NAME`` to read it from the environment instead of the file, or as
``file:PATH`` to read it from a file (a mounted secret). Every key may also be set by an
environment variable ``EHP_<SECTION>__<KEY>`` (a source's: ``EHP_SOURCES__<NAME>__<KEY>``),
which wins over the file (``apply_env_overrides``).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import secrets
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class SourceKind(StrEnum):
    """The kinds of source system (SOURCES.md); values are the config's `kind` strings."""

    REGISTER = "fhir-register"
    EHR = "fhir-ehr"
    LIS = "lis-json"
    DPS = "dps-json"
    AMBULANCE = "ambulance-xml"


@dataclass(frozen=True)
class KindRule:
    """What the configuration of one kind of source must and may hold."""

    required: tuple[str, ...] = ()  # credentials that must be set
    optional: tuple[str, ...] = ()  # credentials that may be set
    regional: bool = False  # one source per region (`region` required), else at most one


# The one declaration of the source kinds; `gateway.sources.registry` maps each to its adapter.
KIND_RULES: dict[SourceKind, KindRule] = {
    SourceKind.REGISTER: KindRule(optional=("token",)),
    SourceKind.EHR: KindRule(optional=("token",), regional=True),
    SourceKind.LIS: KindRule(required=("api_key",)),
    SourceKind.DPS: KindRule(required=("client_id", "client_secret")),
    SourceKind.AMBULANCE: KindRule(required=("username", "password")),
}
ALLOWED_ALGORITHMS = ("RS256", "ES256")
_ALL_CREDENTIALS = ("token", "api_key", "client_id", "client_secret", "username", "password")
_ENV_PREFIX = "env:"
_FILE_PREFIX = "file:"
# Environment overrides: EHP_<SECTION>__<KEY>; names without "__" (EHP_CONFIG) are not ones.
OVERRIDE_PREFIX = "EHP_"
OVERRIDE_SEPARATOR = "__"
_REQUIRED = object()  # marks a field without default in the parsing below


class ConfigError(ValueError):
    """The configuration is missing, unreadable or wrong; the message names the key."""


@dataclass(frozen=True)
class ServerSettings:
    """`[server]`: where and how GraphQL is served."""

    host: str = "127.0.0.1"  # interface to listen on
    port: int = 8000  # TCP port (0 = any free port)
    introspection: bool = False  # schema introspection; true in the demo
    graphiql: bool | None = None  # GraphiQL page at /graphql; default = value of `introspection`
    cors_origins: tuple[str, ...] = ()  # origins allowed by CORS; none by default
    max_body_bytes: int = 65536  # largest accepted request body
    max_depth: int = 12  # deepest selection nesting
    max_aliases: int = 30  # most aliases in one document
    max_tokens: int = 2000  # most lexical tokens in one document
    max_fields: int = 500  # most fields of one operation once its fragments are expanded
    max_repeated_fields: int = 50  # most fields repeating a response key at their level


@dataclass(frozen=True)
class AuthSettings:
    """`[auth]`: how bearer tokens of the identity provider are verified. Required section."""

    issuer: str  # required: expected `iss`
    audience: str  # required: expected `aud`
    jwks_url: str | None = None  # provider's JWKS; exactly one of jwks_url / jwks_file
    jwks_file: str | None = None  # local JWKS file (demo); exactly one of jwks_url / jwks_file
    algorithms: tuple[str, ...] = ALLOWED_ALGORITHMS  # subset of RS256, ES256; none and HS* refused
    leeway_s: int = 30  # clock skew allowed on exp / nbf
    jwks_refresh_s: int = 300  # an unknown `kid` refetches the JWKS at most once per this interval


@dataclass(frozen=True)
class CacheSettings:
    """`[cache]`: where source answers are cached."""

    backend: str = "memory"  # "memory" or "redis"
    redis_url: str | None = None  # required with redis
    encryption_key: str | None = field(default=None, repr=False)  # required with redis
    max_stale_s: int = 86400  # oldest cached copy served when a source fails
    max_items: int = 10000  # most entries in the memory cache
    # Key for hashing IINs in cache keys and logs: required with redis (shared by all
    # processes); with memory a random key per process when absent.
    key_salt: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AuditSettings:
    """`[audit]`: where the chained audit events are stored."""

    database_url: str = "sqlite:///var/lib/ehp/audit.db"  # sqlite:///path or postgresql://...
    # Secret (>= 16 bytes) keying the hash that finds a patient's events; the IIN is not stored.
    # Absent: a key file beside a SQLite database is made once; PostgreSQL needs it set.
    patient_key: str | None = field(default=None, repr=False)
    # Secret (>= 16 bytes) keying the HMAC chain of events and signing its checkpoints; never
    # stored in the database. Absent: a key file beside a SQLite database; PostgreSQL needs it.
    chain_key: str | None = field(default=None, repr=False)
    # Append-only file of signed chain heads, outside the database. Absent: beside a SQLite
    # database (`<file>.checkpoints`); PostgreSQL needs it.
    checkpoint_path: str | None = None
    checkpoint_interval_s: int = 60  # a checkpoint when the chain grew, this often and at shutdown


@dataclass(frozen=True)
class PolicySettings:
    """`[policy]`: access-policy parameters (ACCESS.md)."""

    suppression_k: int = 5  # stats rows covering fewer patients are suppressed
    emergency_deadline_ms: int = 800  # time budget of `emergency`
    request_deadline_ms: int = 3000  # time budget of any other request
    care_window_days: int = 365  # an encounter this recent makes a care relationship
    break_glass_min_chars: int = 10  # shortest breakGlassReason (after strip)
    emergency_reason_min_chars: int = 3  # shortest `emergency` reason (after strip)


class LogFormat(StrEnum):
    """How log lines are written (`[telemetry] log_format`)."""

    JSON = "json"  # one JSON object per line
    TEXT = "text"  # for a person reading a terminal


@dataclass(frozen=True)
class TelemetrySettings:
    """`[telemetry]`: traces to an OpenTelemetry collector, and the form of log lines."""

    otlp_endpoint: str = ""  # OTLP/HTTP base URL, e.g. http://otel-collector:4318; "" = off
    log_format: LogFormat = LogFormat.JSON  # "json" or "text"


@dataclass(frozen=True)
class DocumentsSettings:
    """`[documents]`: trusted documents, the frontends' operations by SHA-256."""

    path: str = ""  # the JSON manifest (`python -m gateway documents build`); "" = none
    require: bool = False  # true: any other document gets PERSISTED_QUERY_NOT_FOUND


class LimitsStorage(StrEnum):
    """Where the rate and distinct-patient counters live."""

    MEMORY = "memory"  # this process only
    REDIS = "redis"  # the [cache] Redis, shared by replicas


@dataclass(frozen=True)
class LimitsSettings:
    """`[limits]`: what one caller may ask of the gateway (ACCESS.md "Limits")."""

    requests_per_minute: int = 120  # per principal and per client address; 0 = no such limit
    burst: int = 30  # requests in any one second, per principal and per address; 0 = none
    distinct_patients_per_day: int = 30  # per nurse or doctor, outside care; 0 = no ceiling
    max_query_cost: int = 10  # a query's reads weighted by their source systems (README)
    storage: LimitsStorage = LimitsStorage.MEMORY  # "memory" or "redis" (needs cache.redis_url)
    rate_window_s: int = 60  # the window requests_per_minute is counted over, scaled (tests: 2)
    patients_window_s: int = 86400  # the "day" of the patient ceiling, from local midnight


@dataclass(frozen=True)
class SourceSettings:
    """One `[[sources]]` entry: a national source system the gateway reads from."""

    name: str  # required, unique: shown in `sources[].source` and provenance
    kind: SourceKind  # required: fhir-register, fhir-ehr, lis-json, dps-json or ambulance-xml
    base_url: str  # required: http(s) URL
    region: str | None = None  # required for fhir-ehr (unique per EHR), absent otherwise
    token: str | None = field(default=None, repr=False)  # fhir-*: optional bearer token
    api_key: str | None = field(default=None, repr=False)  # lis-json: required
    client_id: str | None = None  # dps-json: required
    client_secret: str | None = field(default=None, repr=False)  # dps-json: required
    username: str | None = None  # ambulance-xml: required
    password: str | None = field(default=None, repr=False)  # ambulance-xml: required
    timeout_ms: int = 1500  # per-call timeout
    ttl_s: int = 300  # how long an answer stays fresh in the cache
    max_connections: int = 20  # connection pool size to this source


@dataclass(frozen=True)
class ResilienceSettings:
    """`[resilience]`: circuit breakers and retries, the same for every source (an addition
    to CONFIG.md; every key has a default)."""

    breaker_failure_threshold: int = 5  # consecutive failed fetches that open a circuit
    breaker_failure_ratio: float = 0.5  # or this share of failures among the last calls...
    breaker_window: int = 20  # ...counted over this many fetches...
    breaker_min_calls: int = 10  # ...once at least this many were made
    breaker_open_s: float = 10.0  # how long an open circuit skips the source before a probe
    retry_max_attempts: int = 3  # tries of one idempotent call, the first included
    retry_base_ms: float = 50.0  # full-jitter backoff base
    retry_cap_ms: float = 500.0  # longest wait between tries
    retry_budget_ratio: float = 0.2  # retries earned per first try (extra calls <= 20 %)
    retry_budget_floor: float = 10.0  # retries allowed before any were earned


LANGUAGES = ("kk", "ru", "en")


@dataclass(frozen=True)
class AppSettings:
    """`[app]`: the web passport at /app/ and the identity provider it signs in with."""

    enabled: bool = True  # serve /app/
    oidc_issuer: str | None = None  # OIDC issuer (code flow with PKCE); default: auth.issuer
    oidc_client_id: str = "ehp-web"  # the app's client id at that provider
    default_language: str = "kk"  # kk, ru or en; the browser's Accept-Language wins


@dataclass(frozen=True)
class NotificationSettings:
    """`[notifications]`: break-glass and emergency reads reach the patient (ACCESS.md); the
    keys beyond CONFIG.md's three have defaults (README, "Notifications")."""

    # POST target (JSON body, signed); absent = no notifications are written (a warning).
    webhook_url: str | None = None
    # Key of the HMAC-SHA256 signature (>= 16 bytes; `whsec_<base64>` is decoded): required
    # with webhook_url.
    secret: str | None = field(default=None, repr=False)
    max_attempts: int = 20  # then the row is given up (kept, counted in /metrics)
    backoff_base_s: float = 2.0  # the first retry waits between half this and this
    backoff_cap_s: float = 3600.0  # no wait between attempts is longer
    timeout_ms: int = 5000  # one POST
    lease_s: float = 60.0  # a replica's claim on a row it delivers (longer than timeout_ms)
    poll_interval_s: float = 5.0  # how often each replica looks for rows due
    # Key (>= 16 bytes) encrypting the patient's IIN in the outbox; absent = derived from secret.
    recipient_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    """The whole configuration file."""

    auth: AuthSettings
    sources: tuple[SourceSettings, ...]
    server: ServerSettings = field(default_factory=ServerSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    resilience: ResilienceSettings = field(default_factory=ResilienceSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    documents: DocumentsSettings = field(default_factory=DocumentsSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    app: AppSettings = field(default_factory=AppSettings)

    def sources_of(self, kind: str) -> tuple[SourceSettings, ...]:
        """The configured sources of one kind, in file order."""
        return tuple(s for s in self.sources if s.kind == kind)


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the TOML file at `path`; `env:NAME` values come from `environ`."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"config file not found: {path}") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from error
    env = os.environ if environ is None else environ
    return parse_settings(apply_env_overrides(data, env), env)


def apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """A copy of parsed TOML `data` with every `EHP_<SECTION>__<KEY>` variable set over it.

    A source is addressed by its name in the file: `EHP_SOURCES__EHR_ASTANA__TOKEN` sets
    `token` of the source named `ehr-astana` (names compared upper-cased, `-` and `.` as `_`).
    Values are read as from `env:` (numbers, `true`/`false`, comma-separated arrays) and may
    themselves be `env:NAME` or `file:PATH`. An override naming an unknown section, key or
    source is a ConfigError naming the variable; nothing is applied half-way.
    """
    merged = copy.deepcopy(data)
    sections = _section_types()
    for variable in sorted(environ):
        if not variable.startswith(OVERRIDE_PREFIX) or OVERRIDE_SEPARATOR not in variable:
            continue
        parts = variable[len(OVERRIDE_PREFIX) :].split(OVERRIDE_SEPARATOR)
        section = parts[0].lower()
        value = _EnvText(environ[variable])
        value.variable = variable
        if section == "sources":
            _override_source(merged, parts[1:], value, variable)
            continue
        if section not in sections:
            known = ", ".join(sorted(sections))
            raise ConfigError(f"{variable}: unknown section {section!r} (known: {known})")
        if len(parts) != 2:
            raise ConfigError(f"{variable}: expected {OVERRIDE_PREFIX}{parts[0]}__<KEY>")
        key = _known_key(sections[section], parts[1], section, variable)
        table = merged.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{section}: expected a table")
        table[key] = value
    return merged


def _section_types() -> dict[str, type]:
    """`[section]` name -> its settings class; `sources` -> the class of one source."""
    hints = typing.get_type_hints(Settings)
    sections = {}
    for spec in dataclasses.fields(Settings):
        hint = hints[spec.name]
        if typing.get_origin(hint) is tuple:
            hint = typing.get_args(hint)[0]
        sections[spec.name] = hint
    return sections


def _known_key(cls: type, raw: str, where: str, variable: str) -> str:
    key = raw.lower()
    known = {spec.name for spec in dataclasses.fields(cls)}
    if key not in known:
        names = ", ".join(sorted(known))
        raise ConfigError(f"{variable}: {where} has no key {key!r} (known: {names})")
    return key


def _override_source(data: dict[str, Any], parts: list[str], value: str, variable: str) -> None:
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"{variable}: expected {OVERRIDE_PREFIX}SOURCES__<NAME>__<KEY>")
    wanted, key = OVERRIDE_SEPARATOR.join(parts[:-1]).upper(), parts[-1]
    sources = data.get("sources")
    entries = [s for s in sources if isinstance(s, dict)] if isinstance(sources, list) else []
    matches = [s for s in entries if _env_name(s.get("name")) == wanted]
    if not matches:
        known = ", ".join(_env_name(s.get("name")) for s in entries) or "none"
        raise ConfigError(f"{variable}: no source named {wanted} in the file (sources: {known})")
    if len(matches) > 1:
        raise ConfigError(f"{variable}: {len(matches)} sources are named {wanted} here")
    key = _known_key(SourceSettings, key, f"sources {wanted}", variable)
    if key == "name":
        raise ConfigError(
            f"{variable}: a source's name is how it is addressed; rename it in the file"
        )
    matches[0][key] = value


def _env_name(name: object) -> str:
    """How a source's name is spelled in an override: upper case, `-` and `.` as `_`."""
    return str(name).upper().replace("-", "_").replace(".", "_")


def parse_settings(data: dict[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Validate parsed TOML `data` into `Settings`, raising `ConfigError` naming the key."""
    env = os.environ if environ is None else environ
    if not isinstance(data, dict):
        raise ConfigError("config: expected a table")
    _reject_unknown(data, {f.name for f in dataclasses.fields(Settings)}, "")
    if "auth" not in data:
        raise ConfigError("auth: required section is missing")
    if "sources" not in data:
        raise ConfigError("sources: required, list at least the fhir-register source")
    raw_sources = data["sources"]
    if not isinstance(raw_sources, list):
        raise ConfigError("sources: expected an array of tables ([[sources]])")
    sections = {
        name: _build(cls, data.get(name, {}), name, env)
        for name, cls in (
            ("server", ServerSettings),
            ("auth", AuthSettings),
            ("cache", CacheSettings),
            ("audit", AuditSettings),
            ("policy", PolicySettings),
            ("resilience", ResilienceSettings),
            ("telemetry", TelemetrySettings),
            ("documents", DocumentsSettings),
            ("limits", LimitsSettings),
            ("notifications", NotificationSettings),
            ("app", AppSettings),
        )
    }
    sources = tuple(
        _build(SourceSettings, raw, f"sources[{i}]", env) for i, raw in enumerate(raw_sources)
    )
    server = sections["server"]
    if server.graphiql is None:
        server = dataclasses.replace(server, graphiql=server.introspection)
    settings = Settings(
        server=server,
        auth=sections["auth"],
        cache=sections["cache"],
        audit=sections["audit"],
        policy=sections["policy"],
        resilience=sections["resilience"],
        telemetry=sections["telemetry"],
        documents=sections["documents"],
        limits=sections["limits"],
        notifications=sections["notifications"],
        app=_check_app(sections["app"], sections["auth"]),
        sources=sources,
    )
    _check_server(settings.server)
    _check_auth(settings.auth)
    settings = dataclasses.replace(settings, cache=_check_cache(settings.cache))
    _check_audit(settings.audit)
    _check_policy(settings.policy)
    _check_resilience(settings.resilience)
    _check_telemetry(settings.telemetry)
    _check_documents(settings.documents)
    _check_limits(settings.limits, settings.cache)
    _check_notifications(settings.notifications)
    _check_sources(settings.sources)
    return settings


# --- generic parsing: tables into frozen dataclasses, typed by their annotations ---


def _build(cls: type, raw: object, path: str, env: Mapping[str, str]) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _reject_unknown(raw, set(fields), path)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        key = f"{path}.{name}"
        if name not in raw:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: required key is missing")
            continue
        values[name] = _convert(_resolve_reference(raw[name], key, env), hints[name], key)
    return cls(**values)


def _reject_unknown(raw: dict[str, Any], known: set[str], path: str) -> None:
    for name in raw:
        if name not in known:
            where = f"{path}.{name}" if path else name
            raise ConfigError(f"{where}: unknown key (known: {', '.join(sorted(known))})")


def _resolve_reference(value: object, key: str, env: Mapping[str, str]) -> object:
    """The value itself, or what an `env:NAME` or `file:PATH` reference names."""
    if isinstance(value, str) and value.startswith(_ENV_PREFIX):
        name = value[len(_ENV_PREFIX) :]
        if not name:
            raise ConfigError(f"{key}: `env:` needs a variable name")
        if name not in env:
            raise ConfigError(f"{key}: environment variable {name} is not set")
        return _EnvText(env[name])
    if isinstance(value, str) and value.startswith(_FILE_PREFIX):
        return _EnvText(_read_secret_file(value[len(_FILE_PREFIX) :], key))
    if isinstance(value, list):
        return [_resolve_reference(item, f"{key}[{i}]", env) for i, item in enumerate(value)]
    return value


def _read_secret_file(path: str, key: str) -> str:
    """A mounted secret's text without its final line break (never echoed in errors)."""
    if not path:
        raise ConfigError(f"{key}: `file:` needs a path")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{key}: cannot read secret file {path}: {reason}") from None
    return text.removesuffix("\n").removesuffix("\r")


class _EnvText(str):
    """A string read from the environment or a file; converted to the field's scalar type."""

    variable = ""  # the override variable it came from, named in conversion errors


def _convert(value: object, hint: object, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(value, inner[0], key)
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        if isinstance(value, _EnvText):  # an array from the environment: comma-separated
            value = [_EnvText(item.strip()) for item in value.split(",") if item.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected an array, got {_type_name(value)}")
        return tuple(_convert(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if isinstance(value, _EnvText) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {_type_name(value)}")
    if hint is int:
        return _number(value, key, int, (int,), "an integer")
    if hint is float:
        return _number(value, key, float, (int, float), "a number")
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        known = ", ".join(member.value for member in hint)
        if isinstance(value, str) and value in hint._value2member_map_:
            return hint(value)
        raise ConfigError(f"{key}: unknown value {value!r} (one of {known})")
    if hint is str:
        if isinstance(value, str):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {_type_name(value)}")
    raise ConfigError(f"{key}: unsupported type")  # pragma: no cover - a bug in this module


def _number(
    value: Any, key: str, cast: Callable[[Any], Any], accepted: tuple[type, ...], what: str
) -> Any:
    """An integer or a number from TOML (never a bool) or from an `env:` variable."""
    if isinstance(value, _EnvText):
        try:
            return cast(value)
        except ValueError:
            origin = f" ({value.variable})" if value.variable else ""
            raise ConfigError(f"{key}: expected {what} from the environment{origin}") from None
    if isinstance(value, accepted) and not isinstance(value, bool):
        return cast(value)
    raise ConfigError(f"{key}: expected {what}, got {_type_name(value)}")


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


# --- rules that span keys ---


def _check_http_url(value: str, key: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}: expected an http(s) URL with a host, got {value!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"{key}: invalid port in URL {value!r}") from None


def _at_least(value: float, minimum: int, key: str) -> None:
    if value < minimum:
        raise ConfigError(f"{key}: must be at least {minimum}, got {value}")


def _check_server(server: ServerSettings) -> None:
    if not server.host:
        raise ConfigError("server.host: must not be empty")
    if not 0 <= server.port <= 65535:
        raise ConfigError(f"server.port: must be 0..65535, got {server.port}")
    for i, origin in enumerate(server.cors_origins):
        if origin != "*":
            _check_http_url(origin, f"server.cors_origins[{i}]")
    for name in (
        "max_body_bytes",
        "max_depth",
        "max_aliases",
        "max_tokens",
        "max_fields",
        "max_repeated_fields",
    ):
        _at_least(getattr(server, name), 1, f"server.{name}")


def _check_auth(auth: AuthSettings) -> None:
    if not auth.issuer:
        raise ConfigError("auth.issuer: must not be empty")
    if not auth.audience:
        raise ConfigError("auth.audience: must not be empty")
    if (auth.jwks_url is None) == (auth.jwks_file is None):
        raise ConfigError("auth.jwks_url: give exactly one of auth.jwks_url and auth.jwks_file")
    if auth.jwks_url is not None:
        _check_http_url(auth.jwks_url, "auth.jwks_url")
    if auth.jwks_file is not None and not auth.jwks_file:
        raise ConfigError("auth.jwks_file: must not be empty")
    if not auth.algorithms:
        raise ConfigError("auth.algorithms: list at least one of RS256, ES256")
    for i, alg in enumerate(auth.algorithms):
        if alg not in ALLOWED_ALGORITHMS:
            raise ConfigError(
                f"auth.algorithms[{i}]: {alg!r} is not allowed (only asymmetric RS256, ES256)"
            )
    _at_least(auth.leeway_s, 0, "auth.leeway_s")
    _at_least(auth.jwks_refresh_s, 1, "auth.jwks_refresh_s")


def _check_cache(cache: CacheSettings) -> CacheSettings:
    if cache.backend not in ("memory", "redis"):
        raise ConfigError(f"cache.backend: expected 'memory' or 'redis', got {cache.backend!r}")
    if cache.backend == "redis":
        for name in ("redis_url", "encryption_key", "key_salt"):
            if not getattr(cache, name):
                raise ConfigError(f"cache.{name}: required when cache.backend is 'redis'")
        scheme = urlsplit(cache.redis_url or "").scheme
        if scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"cache.redis_url: expected a redis:// URL, got {cache.redis_url!r}")
    _at_least(cache.max_stale_s, 0, "cache.max_stale_s")
    _at_least(cache.max_items, 1, "cache.max_items")
    if cache.key_salt is None:
        # One process holds the whole memory cache, so a per-process key suffices.
        cache = dataclasses.replace(cache, key_salt=secrets.token_hex(32))
    return cache


def _check_audit(audit: AuditSettings) -> None:
    url = audit.database_url
    for name in ("patient_key", "chain_key"):
        value = getattr(audit, name)
        if value is not None and len(value.encode()) < 16:
            raise ConfigError(f"audit.{name}: needs at least 16 bytes")
    if audit.checkpoint_path is not None and not audit.checkpoint_path:
        raise ConfigError("audit.checkpoint_path: must not be empty")
    _at_least(audit.checkpoint_interval_s, 1, "audit.checkpoint_interval_s")
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return
    if urlsplit(url).scheme in ("postgresql", "postgres") and urlsplit(url).hostname:
        for name in ("patient_key", "chain_key", "checkpoint_path"):
            if getattr(audit, name) is None:
                raise ConfigError(f"audit.{name}: required with a PostgreSQL audit database")
        return
    raise ConfigError(
        f"audit.database_url: expected sqlite:///PATH or postgresql://HOST/DB, got {url!r}"
    )


def _check_resilience(resilience: ResilienceSettings) -> None:
    for spec in dataclasses.fields(resilience):
        value = getattr(resilience, spec.name)
        floor = (
            1
            if spec.name
            in (
                "retry_max_attempts",
                "breaker_window",
                "breaker_min_calls",
                "breaker_failure_threshold",
            )
            else 0
        )
        _at_least(value, floor, f"resilience.{spec.name}")
    if resilience.breaker_failure_ratio > 1:
        raise ConfigError("resilience.breaker_failure_ratio: must be at most 1")


def _check_telemetry(telemetry: TelemetrySettings) -> None:
    if telemetry.otlp_endpoint:
        _check_http_url(telemetry.otlp_endpoint, "telemetry.otlp_endpoint")


def _check_documents(documents: DocumentsSettings) -> None:
    if documents.require and not documents.path:
        raise ConfigError("documents.require: needs documents.path (the trusted documents)")


# Limits that 0 turns off (benchmarks and tests of other things are one caller asking fast).
_LIMITS_OFF_AT_ZERO = ("requests_per_minute", "burst", "distinct_patients_per_day")


def _check_limits(limits: LimitsSettings, cache: CacheSettings) -> None:
    for spec in dataclasses.fields(limits):
        value = getattr(limits, spec.name)
        if isinstance(value, int):
            floor = 0 if spec.name in _LIMITS_OFF_AT_ZERO else 1
            _at_least(value, floor, f"limits.{spec.name}")
    if limits.storage is LimitsStorage.REDIS and not cache.redis_url:
        raise ConfigError("limits.storage: 'redis' uses the [cache] Redis; set cache.redis_url")


def _check_notifications(notifications: NotificationSettings) -> None:
    for name in ("secret", "recipient_key"):
        value = getattr(notifications, name)
        if value is not None and len(value.encode()) < 16:
            raise ConfigError(f"notifications.{name}: needs at least 16 bytes")
    if notifications.webhook_url is not None:
        _check_http_url(notifications.webhook_url, "notifications.webhook_url")
        if notifications.secret is None:
            raise ConfigError("notifications.secret: required with notifications.webhook_url")
    _at_least(notifications.max_attempts, 1, "notifications.max_attempts")
    _at_least(notifications.timeout_ms, 1, "notifications.timeout_ms")
    for name in ("backoff_base_s", "poll_interval_s"):
        if not getattr(notifications, name) > 0:
            raise ConfigError(f"notifications.{name}: must be more than 0")
    if notifications.backoff_cap_s < notifications.backoff_base_s:
        raise ConfigError("notifications.backoff_cap_s: must be at least backoff_base_s")
    if notifications.lease_s <= notifications.timeout_ms / 1000:
        # A claim shorter than one POST would let another replica deliver the row meanwhile.
        raise ConfigError("notifications.lease_s: must be longer than timeout_ms")


def _check_policy(policy: PolicySettings) -> None:
    for spec in dataclasses.fields(policy):
        _at_least(getattr(policy, spec.name), 1, f"policy.{spec.name}")


def _check_app(app: AppSettings, auth: AuthSettings) -> AppSettings:
    if app.oidc_issuer is None:  # the provider whose tokens the gateway accepts
        app = dataclasses.replace(app, oidc_issuer=auth.issuer)
    elif app.enabled:
        _check_http_url(app.oidc_issuer, "app.oidc_issuer")
    if app.enabled and not app.oidc_client_id:
        raise ConfigError("app.oidc_client_id: must not be empty")
    if app.default_language not in LANGUAGES:
        raise ConfigError(
            f"app.default_language: expected one of {', '.join(LANGUAGES)}, "
            f"got {app.default_language!r}"
        )
    return app


def _check_sources(sources: tuple[SourceSettings, ...]) -> None:
    names: dict[str, int] = {}
    kinds: dict[SourceKind, int] = {}
    regions: dict[str, int] = {}
    for i, source in enumerate(sources):
        path = f"sources[{i}]"
        if not source.name:
            raise ConfigError(f"{path}.name: must not be empty")
        if source.name in names:
            raise ConfigError(
                f"{path}.name: duplicate source name {source.name!r} "
                f"(also sources[{names[source.name]}])"
            )
        names[source.name] = i
        _check_http_url(source.base_url, f"{path}.base_url")
        if KIND_RULES[source.kind].regional:
            if not source.region:
                raise ConfigError(f"{path}.region: required for kind {source.kind}")
            if source.region in regions:
                raise ConfigError(
                    f"{path}.region: region {source.region!r} already served by "
                    f"sources[{regions[source.region]}]"
                )
            regions[source.region] = i
        else:
            if source.region is not None:
                raise ConfigError(f"{path}.region: only regional sources (fhir-ehr) have a region")
            if source.kind in kinds:
                raise ConfigError(
                    f"{path}.kind: only one {source.kind} source is allowed "
                    f"(also sources[{kinds[source.kind]}])"
                )
            kinds[source.kind] = i
        _check_credentials(source, path)
        _at_least(source.timeout_ms, 1, f"{path}.timeout_ms")
        _at_least(source.ttl_s, 0, f"{path}.ttl_s")
        _at_least(source.max_connections, 1, f"{path}.max_connections")
    if SourceKind.REGISTER not in kinds:
        raise ConfigError("sources: a fhir-register source is required")


def _check_credentials(source: SourceSettings, path: str) -> None:
    rule = KIND_RULES[source.kind]
    required, allowed = rule.required, rule.required + rule.optional
    for name in _ALL_CREDENTIALS:
        value = getattr(source, name)
        if name in required and not value:
            raise ConfigError(f"{path}.{name}: required for kind {source.kind}")
        if name not in allowed and value is not None:
            raise ConfigError(f"{path}.{name}: not used by kind {source.kind}")

"""Settings from the TOML of CONFIG.md: the example parses, every bad case names its key."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, Settings, load_settings, parse_settings

# The example of contracts/CONFIG.md, verbatim.
EXAMPLE = """
[server]
host = "127.0.0.1"
port = 8000
introspection = false          # true in the demo
cors_origins = []

[auth]
issuer = "https://idp.example.kz"
audience = "ehp-gateway"
jwks_url = "https://idp.example.kz/.well-known/jwks.json"   # or jwks_file = "path"
algorithms = ["RS256", "ES256"]
leeway_s = 30

[cache]
backend = "memory"             # or "redis"
redis_url = "redis://127.0.0.1:6379/0"
encryption_key = "env:EHP_CACHE_KEY"   # required with redis: cached health data is encrypted
max_stale_s = 86400            # how old a cached copy may be when served because a source failed

[audit]
database_url = "sqlite:///var/lib/ehp/audit.db"   # or postgresql://user@host/db
chain_key = "env:EHP_AUDIT_CHAIN_KEY"            # keys the chain; never stored in the database
checkpoint_path = "/var/lib/ehp/audit-checkpoints" # signed chain heads, outside the database

[policy]
suppression_k = 5
emergency_deadline_ms = 800

[limits]                       # ACCESS.md "Limits"
requests_per_minute = 120      # per principal
burst = 30
distinct_patients_per_day = 30 # per nurse or doctor, outside a care relationship
max_query_cost = 10            # a passport costs its sources; see the README
storage = "memory"             # or "redis" (the [cache] Redis), shared by replicas

[[sources]]
name = "register"
kind = "fhir-register"
base_url = "http://127.0.0.1:9101/fhir"
token = "env:REGISTER_TOKEN"
timeout_ms = 1000
ttl_s = 3600

[[sources]]
name = "ehr-astana"
kind = "fhir-ehr"
region = "astana"
base_url = "http://127.0.0.1:9102/fhir"
token = "env:EHR_TOKEN"
timeout_ms = 1500
ttl_s = 300

[[sources]]
name = "lis"
kind = "lis-json"
base_url = "http://127.0.0.1:9105"
api_key = "env:LIS_KEY"
timeout_ms = 1500
ttl_s = 300

[[sources]]
name = "drugs"
kind = "dps-json"
base_url = "http://127.0.0.1:9106"
client_id = "ehp-gateway"
client_secret = "env:DPS_SECRET"
timeout_ms = 1500
ttl_s = 600

[[sources]]
name = "ambulance"
kind = "ambulance-xml"
base_url = "http://127.0.0.1:9107"
username = "ehp"
password = "env:AMBULANCE_PASSWORD"
timeout_ms = 1500
ttl_s = 300
"""

ENV = {
    "EHP_CACHE_KEY": "cache-key-from-env",
    "REGISTER_TOKEN": "register-token",
    "EHR_TOKEN": "ehr-token",
    "LIS_KEY": "lis-key",
    "DPS_SECRET": "dps-secret",
    "AMBULANCE_PASSWORD": "ambulance-password",
    "EHP_AUDIT_CHAIN_KEY": "chain-key-from-env-32-bytes-long",
}


def example() -> dict[str, Any]:
    """A fresh parsed copy of the example, for a test to spoil."""
    return copy.deepcopy(tomllib.loads(EXAMPLE))


def test_example_file_parses(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    settings = load_settings(path, ENV)
    assert isinstance(settings, Settings)
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.server.introspection is False
    assert settings.server.cors_origins == ()
    assert settings.auth.issuer == "https://idp.example.kz"
    assert settings.auth.audience == "ehp-gateway"
    assert settings.auth.jwks_url == "https://idp.example.kz/.well-known/jwks.json"
    assert settings.auth.jwks_file is None
    assert settings.auth.algorithms == ("RS256", "ES256")
    assert settings.auth.leeway_s == 30
    assert settings.cache.backend == "memory"
    assert settings.cache.encryption_key == "cache-key-from-env"
    assert settings.cache.max_stale_s == 86400
    assert settings.audit.database_url == "sqlite:///var/lib/ehp/audit.db"
    assert settings.policy.suppression_k == 5
    assert settings.policy.emergency_deadline_ms == 800
    assert [s.name for s in settings.sources] == [
        "register",
        "ehr-astana",
        "lis",
        "drugs",
        "ambulance",
    ]
    register, ehr, lis, drugs, ambulance = settings.sources
    assert (register.kind, register.token, register.timeout_ms, register.ttl_s) == (
        "fhir-register",
        "register-token",
        1000,
        3600,
    )
    assert (ehr.kind, ehr.region, ehr.base_url) == (
        "fhir-ehr",
        "astana",
        "http://127.0.0.1:9102/fhir",
    )
    assert lis.api_key == "lis-key"
    assert (drugs.client_id, drugs.client_secret, drugs.ttl_s) == ("ehp-gateway", "dps-secret", 600)
    assert (ambulance.username, ambulance.password) == ("ehp", "ambulance-password")
    assert settings.sources_of("fhir-ehr") == (ehr,)


def test_limits_of_the_example_and_their_defaults() -> None:
    limits = parse_settings(example(), ENV).limits
    assert (limits.requests_per_minute, limits.burst, limits.distinct_patients_per_day) == (
        120,
        30,
        30,
    )
    assert (limits.max_query_cost, limits.storage) == (10, "memory")
    data = example()
    del data["limits"]
    assert parse_settings(data, ENV).limits == limits  # CONFIG.md's values are the defaults
    data["limits"] = {"max_query_cost": "env:EHP_COST", "storage": "redis"}
    shared = parse_settings(data, {**ENV, "EHP_COST": "25"}).limits
    assert (shared.max_query_cost, shared.storage) == (25, "redis")


def test_limits_in_redis_need_the_cache_redis_url() -> None:
    data = example()
    data["limits"]["storage"] = "redis"
    del data["cache"]["redis_url"]
    with pytest.raises(ConfigError, match=r"^limits\.storage: .*cache\.redis_url"):
        parse_settings(data, ENV)


def test_defaults_of_the_extra_keys() -> None:
    settings = parse_settings(example(), ENV)
    server, auth, cache, policy = settings.server, settings.auth, settings.cache, settings.policy
    assert server.max_body_bytes == 65536
    assert server.graphiql is False  # follows introspection
    assert (server.max_depth, server.max_aliases, server.max_tokens) == (12, 30, 2000)
    assert (server.max_fields, server.max_repeated_fields) == (500, 50)
    assert auth.jwks_refresh_s == 300
    assert cache.max_items == 10000
    assert policy.care_window_days == 365
    assert policy.break_glass_min_chars == 10
    assert policy.request_deadline_ms == 3000
    assert all(s.max_connections == 20 for s in settings.sources)


def test_minimal_file_gets_documented_defaults() -> None:
    data = {
        "auth": {"issuer": "https://idp", "audience": "ehp-gateway", "jwks_file": "jwks.json"},
        "sources": [{"name": "r", "kind": "fhir-register", "base_url": "http://127.0.0.1:1/fhir"}],
    }
    settings = parse_settings(data, {})
    assert settings.server.port == 8000 and settings.server.introspection is False
    assert settings.auth.algorithms == ("RS256", "ES256")
    assert settings.audit.database_url == "sqlite:///var/lib/ehp/audit.db"
    assert settings.policy.suppression_k == 5
    assert settings.sources[0].token is None


def test_graphiql_follows_introspection_unless_set() -> None:
    data = example()
    data["server"]["introspection"] = True
    assert parse_settings(data, ENV).server.graphiql is True
    data["server"]["graphiql"] = False
    assert parse_settings(data, ENV).server.graphiql is False


def test_memory_cache_gets_a_random_key_salt_per_process() -> None:
    first = parse_settings(example(), ENV).cache.key_salt
    second = parse_settings(example(), ENV).cache.key_salt
    assert first and second and first != second


def test_redis_cache_needs_salt_and_key() -> None:
    data = example()
    data["cache"]["backend"] = "redis"
    with pytest.raises(ConfigError, match=r"cache\.key_salt"):
        parse_settings(data, ENV)
    data["cache"]["key_salt"] = "env:SALT"
    settings = parse_settings(data, {**ENV, "SALT": "shared-salt"})
    assert settings.cache.key_salt == "shared-salt"
    del data["cache"]["encryption_key"]
    with pytest.raises(ConfigError, match=r"cache\.encryption_key"):
        parse_settings(data, {**ENV, "SALT": "shared-salt"})


def test_env_values_convert_to_the_key_type() -> None:
    data = example()
    data["server"]["port"] = "env:PORT"
    data["server"]["introspection"] = "env:INTROSPECTION"
    settings = parse_settings(data, {**ENV, "PORT": "9000", "INTROSPECTION": "true"})
    assert settings.server.port == 9000 and settings.server.introspection is True
    with pytest.raises(ConfigError, match=r"server\.port"):
        parse_settings(data, {**ENV, "PORT": "eighty", "INTROSPECTION": "true"})


def test_missing_env_variable_names_key_and_variable() -> None:
    env = {k: v for k, v in ENV.items() if k != "LIS_KEY"}
    with pytest.raises(ConfigError) as caught:
        parse_settings(example(), env)
    assert "sources[2].api_key" in str(caught.value)
    assert "LIS_KEY" in str(caught.value)


def test_secrets_stay_out_of_repr() -> None:
    text = repr(parse_settings(example(), ENV))
    for secret in ENV.values():
        assert secret not in text


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml", ENV)
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(bad, ENV)


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def _delete(data: dict[str, Any], path: tuple[Any, ...]) -> None:
    target = data
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]


_DELETE = object()
# (what is changed, the new value or _DELETE, the key path the error must name)
BAD_CASES = [
    (("server", "colour"), "blue", "server.colour"),
    (("surprise",), {}, "surprise"),
    (("server", "port"), "8000", "server.port"),
    (("server", "port"), 70000, "server.port"),
    (("server", "introspection"), "yes", "server.introspection"),
    (("server", "cors_origins"), "https://a.kz", "server.cors_origins"),
    (("server", "cors_origins"), ["ftp://a.kz"], "server.cors_origins[0]"),
    (("server", "max_depth"), 0, "server.max_depth"),
    (("server", "max_fields"), 0, "server.max_fields"),
    (("server", "max_repeated_fields"), "50", "server.max_repeated_fields"),
    (("limits", "max_query_cost"), 0, "limits.max_query_cost"),
    (("limits", "requests_per_minute"), -1, "limits.requests_per_minute"),  # 0 is off
    (("limits", "burst"), 2.5, "limits.burst"),
    (("limits", "distinct_patients_per_day"), -1, "limits.distinct_patients_per_day"),
    (("limits", "storage"), "disk", "limits.storage"),
    (("limits", "window"), 60, "limits.window"),
    (("limits", "rate_window_s"), 0, "limits.rate_window_s"),
    (("auth",), _DELETE, "auth"),
    (("auth", "issuer"), _DELETE, "auth.issuer"),
    (("auth", "audience"), 5, "auth.audience"),
    (("auth", "jwks_url"), _DELETE, "auth.jwks_url"),
    (("auth", "jwks_file"), "jwks.json", "auth.jwks_url"),  # both given
    (("auth", "jwks_url"), "not a url", "auth.jwks_url"),
    (("auth", "algorithms"), ["RS256", "HS256"], "auth.algorithms[1]"),
    (("auth", "algorithms"), ["none"], "auth.algorithms[0]"),
    (("auth", "algorithms"), [], "auth.algorithms"),
    (("auth", "leeway_s"), 1.5, "auth.leeway_s"),
    (("cache", "backend"), "memcached", "cache.backend"),
    (("cache", "max_items"), 0, "cache.max_items"),
    (("audit", "database_url"), "mysql://x/db", "audit.database_url"),
    (("policy", "suppression_k"), 0, "policy.suppression_k"),
    (("policy", "break_glass_min_chars"), "ten", "policy.break_glass_min_chars"),
    (("sources",), _DELETE, "sources"),
    (("sources",), {"name": "x"}, "sources"),
    (("sources", 0, "kind"), _DELETE, "sources[0].kind"),
    (("sources", 2, "timeout_ms"), "1500", "sources[2].timeout_ms"),
    (("sources", 2, "timeout_ms"), 0, "sources[2].timeout_ms"),
    (("sources", 2, "retries"), 3, "sources[2].retries"),
    (("sources", 2, "kind"), "lis-xml", "sources[2].kind"),
    (("sources", 2, "base_url"), "127.0.0.1:9105", "sources[2].base_url"),
    (("sources", 2, "base_url"), "http://127.0.0.1:notaport", "sources[2].base_url"),
    (("sources", 1, "region"), _DELETE, "sources[1].region"),
    (("sources", 2, "region"), "astana", "sources[2].region"),
    (("sources", 2, "api_key"), _DELETE, "sources[2].api_key"),
    (("sources", 2, "token"), "t", "sources[2].token"),
    (("sources", 3, "client_secret"), _DELETE, "sources[3].client_secret"),
    (("sources", 3, "client_id"), _DELETE, "sources[3].client_id"),
    (("sources", 4, "password"), _DELETE, "sources[4].password"),
    (("sources", 4, "username"), "", "sources[4].username"),
    (("sources", 4, "max_connections"), 0, "sources[4].max_connections"),
    (("sources", 4, "name"), "lis", "sources[4].name"),  # duplicate name
    (("sources", 0, "kind"), "fhir-ehr", "sources"),  # then no register at all
]


@pytest.mark.parametrize(("path", "value", "key"), BAD_CASES, ids=[c[2] for c in BAD_CASES])
def test_bad_setting_names_its_key(path: tuple[Any, ...], value: Any, key: str) -> None:
    data = example()
    if value is _DELETE:
        _delete(data, path)
    else:
        _set(data, path, value)
    if path[:3] == ("sources", 0, "kind") and value == "fhir-ehr":
        data["sources"][0]["region"] = "almaty"
        del data["sources"][0]["token"]
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, ENV)
    assert str(caught.value).startswith(f"{key}:"), str(caught.value)


def test_second_lis_source_is_refused() -> None:
    data = example()
    data["sources"].append({**data["sources"][2], "name": "lis-2"})
    with pytest.raises(ConfigError, match=r"^sources\[5\]\.kind:"):
        parse_settings(data, ENV)


def test_several_ehr_regions_allowed_but_not_twice_the_same() -> None:
    data = example()
    data["sources"].append({**data["sources"][1], "name": "ehr-almaty", "region": "almaty"})
    settings = parse_settings(data, ENV)
    assert [s.region for s in settings.sources_of("fhir-ehr")] == ["astana", "almaty"]
    data["sources"].append({**data["sources"][1], "name": "ehr-astana-2"})
    with pytest.raises(ConfigError, match=r"^sources\[6\]\.region:"):
        parse_settings(data, ENV)


def test_jwks_file_alone_and_postgres_audit() -> None:
    data = example()
    del data["auth"]["jwks_url"]
    data["auth"]["jwks_file"] = "var/demo/jwks.json"
    data["audit"]["database_url"] = "postgresql://ehp@127.0.0.1:5432/test"
    del data["audit"]["chain_key"], data["audit"]["checkpoint_path"]
    # Neither key may live beside a remote database, nor the checkpoints inside it.
    for name in ("patient_key", "chain_key", "checkpoint_path"):
        with pytest.raises(ConfigError, match=rf"^audit\.{name}: required with a PostgreSQL"):
            parse_settings(data, ENV)
        data["audit"][name] = "k" * 32
    settings = parse_settings(data, ENV)
    assert settings.auth.jwks_file == "var/demo/jwks.json" and settings.auth.jwks_url is None
    assert settings.audit.database_url.startswith("postgresql://")


@pytest.mark.parametrize("name", ["patient_key", "chain_key"])
def test_short_audit_keys_refused(name: str) -> None:
    data = example()
    data["audit"][name] = "short"
    with pytest.raises(ConfigError, match=rf"^audit\.{name}: needs at least 16 bytes"):
        parse_settings(data, ENV)


def test_audit_chain_key_from_the_environment_and_checkpoint_interval() -> None:
    settings = parse_settings(example(), ENV)
    assert settings.audit.chain_key == ENV["EHP_AUDIT_CHAIN_KEY"]
    assert settings.audit.checkpoint_path == "/var/lib/ehp/audit-checkpoints"
    assert settings.audit.checkpoint_interval_s == 60
    assert ENV["EHP_AUDIT_CHAIN_KEY"] not in repr(settings.audit)
    data = example()
    data["audit"]["checkpoint_interval_s"] = 0
    with pytest.raises(ConfigError, match=r"^audit\.checkpoint_interval_s: must be at least 1"):
        parse_settings(data, ENV)


def test_settings_are_frozen() -> None:
    settings = parse_settings(example(), ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.server.port = 1  # type: ignore[misc]


def test_resilience_has_defaults_and_names_a_bad_key() -> None:
    settings = parse_settings(example(), ENV)
    assert settings.resilience.retry_max_attempts == 3
    data = example()
    data["resilience"] = {"breaker_open_s": 2.5, "retry_budget_ratio": 0.1}
    settings = parse_settings(data, ENV)
    assert settings.resilience.breaker_open_s == 2.5
    data["resilience"] = {"retry_max_attempts": 0}
    with pytest.raises(ConfigError, match=r"^resilience\.retry_max_attempts"):
        parse_settings(data, ENV)
    data["resilience"] = {"breaker_failure_ratio": 1.5}
    with pytest.raises(ConfigError, match=r"^resilience\.breaker_failure_ratio"):
        parse_settings(data, ENV)


def test_app_section_defaults_to_the_token_issuer_and_kazakh() -> None:
    app = parse_settings(example(), ENV).app
    assert app.enabled is True
    assert app.oidc_issuer == "https://idp.example.kz"  # [auth] issuer: the same provider
    assert (app.oidc_client_id, app.default_language) == ("ehp-web", "kk")


def test_app_section_of_the_contract_parses() -> None:
    data = example()
    data["app"] = {
        "enabled": True,
        "oidc_issuer": "https://idp.example.kz",
        "oidc_client_id": "ehp-web",
        "default_language": "ru",
    }
    assert parse_settings(data, ENV).app.default_language == "ru"


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"default_language": "de"}, "app.default_language"),
        ({"oidc_issuer": "idp.example.kz"}, "app.oidc_issuer"),
        ({"oidc_client_id": ""}, "app.oidc_client_id"),
        ({"enabled": "yes"}, "app.enabled"),
        ({"theme": "dark"}, "app.theme"),
    ],
)
def test_a_bad_app_setting_names_its_key(values: dict[str, Any], key: str) -> None:
    data = example()
    data["app"] = values
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, ENV)
    assert str(caught.value).startswith(f"{key}:"), str(caught.value)

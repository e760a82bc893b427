"""Environment overrides (CONFIG.md): `EHP_<SECTION>__<KEY>` wins over the file, a source is
addressed by its name, values may be `file:` secrets, and a bad override names its variable."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from gateway.config import ConfigError, apply_env_overrides, load_settings
from tests.gateway.test_config import ENV, EXAMPLE, example


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """CONFIG.md's example as a file."""
    path = tmp_path / "gateway.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    return path


def test_overrides_win_over_the_file(config_file: Path) -> None:
    env = {
        **ENV,
        "EHP_SERVER__PORT": "8080",
        "EHP_SERVER__HOST": "127.0.0.2",
        "EHP_SERVER__INTROSPECTION": "true",
        "EHP_POLICY__SUPPRESSION_K": "11",
        "EHP_RESILIENCE__BREAKER_OPEN_S": "2.5",
        "EHP_AUDIT__DATABASE_URL": "postgresql://ehp@db/ehp",
        "EHP_AUDIT__PATIENT_KEY": "k" * 32,
    }
    settings = load_settings(config_file, env)
    assert (settings.server.host, settings.server.port) == ("127.0.0.2", 8080)
    assert settings.server.introspection is True
    assert settings.server.graphiql is True  # still follows introspection
    assert settings.policy.suppression_k == 11
    assert settings.resilience.breaker_open_s == 2.5
    assert settings.audit.database_url == "postgresql://ehp@db/ehp"
    # Keys not overridden keep the file's values.
    assert settings.policy.emergency_deadline_ms == 800
    assert settings.auth.issuer == "https://idp.example.kz"


def test_arrays_are_comma_separated(config_file: Path) -> None:
    env = {
        **ENV,
        "EHP_SERVER__CORS_ORIGINS": "https://app.ehp.kz, https://admin.ehp.kz",
        "EHP_AUTH__ALGORITHMS": "ES256",
    }
    settings = load_settings(config_file, env)
    assert settings.server.cors_origins == ("https://app.ehp.kz", "https://admin.ehp.kz")
    assert settings.auth.algorithms == ("ES256",)
    assert (
        load_settings(config_file, {**env, "EHP_SERVER__CORS_ORIGINS": ""}).server.cors_origins
        == ()
    )


def test_an_override_can_create_a_section_the_file_lacks(tmp_path: Path) -> None:
    # The file holds only the sources; everything else comes from the environment.
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[[sources]]\nname = "register"\nkind = "fhir-register"\n'
        'base_url = "http://127.0.0.1:9101/fhir"\n',
        encoding="utf-8",
    )
    env = {
        "EHP_AUTH__ISSUER": "https://idp.example.kz",
        "EHP_AUTH__AUDIENCE": "ehp-gateway",
        "EHP_AUTH__JWKS_URL": "https://idp.example.kz/jwks.json",
        "EHP_CACHE__BACKEND": "redis",
        "EHP_CACHE__REDIS_URL": "redis://redis:6379/0",
        "EHP_CACHE__ENCRYPTION_KEY": "00" * 32,
        "EHP_CACHE__KEY_SALT": "salt-shared-by-replicas",
    }
    settings = load_settings(path, env)
    assert settings.auth.jwks_url == "https://idp.example.kz/jwks.json"
    assert (settings.cache.backend, settings.cache.redis_url) == ("redis", "redis://redis:6379/0")
    assert settings.cache.key_salt == "salt-shared-by-replicas"


def test_a_source_is_addressed_by_its_name(config_file: Path) -> None:
    env = {
        **ENV,
        "EHP_SOURCES__EHR_ASTANA__BASE_URL": "https://ehr.astana.example.kz/fhir",
        "EHP_SOURCES__EHR_ASTANA__TIMEOUT_MS": "900",
        "EHP_SOURCES__LIS__API_KEY": "lis-key-from-override",
        "EHP_SOURCES__DRUGS__CLIENT_SECRET": "env:DPS_SECRET_V2",
        "DPS_SECRET_V2": "rotated-dps-secret",
    }
    settings = load_settings(config_file, env)
    by_name = {source.name: source for source in settings.sources}
    assert by_name["ehr-astana"].base_url == "https://ehr.astana.example.kz/fhir"
    assert by_name["ehr-astana"].timeout_ms == 900
    assert by_name["lis"].api_key == "lis-key-from-override"
    assert by_name["drugs"].client_secret == "rotated-dps-secret"
    assert by_name["register"].timeout_ms == 1000  # untouched
    assert [source.name for source in settings.sources] == [
        "register",
        "ehr-astana",
        "lis",
        "drugs",
        "ambulance",
    ]


def test_file_references_read_mounted_secrets(config_file: Path, tmp_path: Path) -> None:
    secret = tmp_path / "audit_patient_key"
    secret.write_text("patient-key-from-a-mounted-secret\n", encoding="utf-8")
    env = {
        **ENV,
        "EHP_AUDIT__DATABASE_URL": "postgresql://ehp@db/ehp",
        "EHP_AUDIT__PATIENT_KEY": f"file:{secret}",
    }
    settings = load_settings(config_file, env)
    assert settings.audit.patient_key == "patient-key-from-a-mounted-secret"


def test_an_unreadable_secret_file_names_the_key_and_not_a_value(config_file: Path) -> None:
    env = {**ENV, "EHP_SOURCES__LIS__API_KEY": "file:/run/secrets/absent-lis-key"}
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file, env)
    message = str(caught.value)
    assert message.startswith("sources[2].api_key: cannot read secret file")
    assert "/run/secrets/absent-lis-key" in message


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "EHP_LIMTS__BURST",
            "5",
            r"EHP_LIMTS__BURST: unknown section 'limts' \(known: app, audit,",
        ),
        ("EHP_SERVER__PORTT", "1", r"EHP_SERVER__PORTT: server has no key 'portt' \(known: "),
        ("EHP_SERVER__", "1", r"EHP_SERVER__: server has no key ''"),
        ("EHP_SERVER__PORT__X", "1", r"EHP_SERVER__PORT__X: expected EHP_SERVER__<KEY>"),
        (
            "EHP_SOURCES__EHR_ALMATY__TOKEN",
            "t",
            r"EHP_SOURCES__EHR_ALMATY__TOKEN: no source named EHR_ALMATY in the file "
            r"\(sources: REGISTER, EHR_ASTANA, LIS, DRUGS, AMBULANCE\)",
        ),
        ("EHP_SOURCES__LIS", "k", r"EHP_SOURCES__LIS: expected EHP_SOURCES__<NAME>__<KEY>"),
        ("EHP_SOURCES____TOKEN", "k", r"expected EHP_SOURCES__<NAME>__<KEY>"),
        ("EHP_SOURCES__LIS__APIKEY", "k", r"sources LIS has no key 'apikey'"),
        ("EHP_SOURCES__LIS__NAME", "labs", r"EHP_SOURCES__LIS__NAME: a source's name is how"),
        (
            "EHP_SERVER__PORT",
            "eighty",
            r"server\.port: expected an integer from the environment \(EHP_SERVER__PORT\)",
        ),
        ("EHP_SERVER__PORT", "70000", r"server\.port: must be 0\.\.65535"),
        ("EHP_SERVER__INTROSPECTION", "yes", r"server\.introspection: expected true or false"),
        ("EHP_AUTH__ALGORITHMS", "RS256,HS256", r"auth\.algorithms\[1\]: 'HS256' is not allowed"),
    ],
)
def test_a_bad_override_is_refused_naming_it(
    config_file: Path, variable: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(config_file, {**ENV, variable: value})


def test_variables_that_are_not_overrides_are_ignored(config_file: Path) -> None:
    # EHP_ names without "__" belong to the commands, the tests or `env:` references.
    env = {
        **ENV,
        "EHP_CONFIG": "/etc/ehp/gateway.toml",
        "EHP_LOG_LEVEL": "DEBUG",
        "EHP_REQUIRE_SERVICES": "1",
        "EHP_AUDIT_CHAIN_KEY": "not-an-override-" + "0" * 16,
        "OTHER__SERVER__PORT": "1",
    }
    settings = load_settings(config_file, env)
    assert settings.server.port == 8000


def test_overrides_leave_the_parsed_file_untouched() -> None:
    data = example()
    before = copy.deepcopy(data)
    merged = apply_env_overrides(
        data, {"EHP_SERVER__PORT": "9", "EHP_SOURCES__LIS__API_KEY": "other"}
    )
    assert data == before
    assert merged["server"]["port"] == "9"
    assert merged["sources"][2]["api_key"] == "other"
    with pytest.raises(ConfigError):
        apply_env_overrides(data, {"EHP_SERVER__PORT": "9", "EHP_NOPE__X": "1"})
    assert data == before


def test_telemetry_and_documents_keys_take_overrides(config_file: Path) -> None:
    defaults = load_settings(config_file, ENV)
    assert defaults.telemetry.otlp_endpoint == ""  # tracing off
    assert defaults.telemetry.log_format == "json"
    assert (defaults.documents.path, defaults.documents.require) == ("", False)
    env = {
        **ENV,
        "EHP_TELEMETRY__OTLP_ENDPOINT": "http://otel-collector:4318",
        "EHP_TELEMETRY__LOG_FORMAT": "text",
        "EHP_DOCUMENTS__PATH": "/etc/ehp/trusted-documents.json",
        "EHP_DOCUMENTS__REQUIRE": "true",
    }
    settings = load_settings(config_file, env)
    assert settings.telemetry.otlp_endpoint == "http://otel-collector:4318"
    assert settings.telemetry.log_format == "text"
    assert settings.documents.path == "/etc/ehp/trusted-documents.json"
    assert settings.documents.require is True


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"EHP_TELEMETRY__LOG_FORMAT": "xml"}, "telemetry.log_format"),
        ({"EHP_TELEMETRY__OTLP_ENDPOINT": "otel-collector:4318"}, "telemetry.otlp_endpoint"),
        ({"EHP_DOCUMENTS__REQUIRE": "yes"}, "documents.require"),
        ({"EHP_DOCUMENTS__REQUIRE": "true"}, "documents.require"),  # without a path
        ({"EHP_TELEMETRY__SAMPLE_RATE": "1"}, "EHP_TELEMETRY__SAMPLE_RATE"),
    ],
)
def test_bad_telemetry_or_documents_values_name_their_key(
    config_file: Path, variables: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_settings(config_file, {**ENV, **variables})


def test_the_web_passport_is_set_from_the_environment_too(config_file: Path) -> None:
    env = {**ENV, "EHP_APP__DEFAULT_LANGUAGE": "en", "EHP_APP__ENABLED": "false"}
    app = load_settings(config_file, env).app
    assert (app.default_language, app.enabled) == ("en", False)
    with pytest.raises(ConfigError, match=r"^app\.default_language: expected one of kk, ru, en"):
        load_settings(config_file, {**ENV, "EHP_APP__DEFAULT_LANGUAGE": "de"})

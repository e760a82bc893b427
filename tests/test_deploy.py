"""deploy/ and the Dockerfile: valid files that fit together and configure a gateway the loader
accepts. No Docker engine runs here, so tests/e2e/test_container_entrypoint.py runs the image's
command with the image's and compose's environment directly."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.app import READINESS_AUDIT_TIMEOUT_S
from gateway.config import Settings, load_settings

REPOSITORY = Path(__file__).resolve().parents[1]
DEPLOY = REPOSITORY / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = REPOSITORY / "Dockerfile"
SECRETS_MOUNT = "/run/secrets/"
KUBERNETES_VERSION = "1.30.0"  # the oldest release the manifests are checked against


# --- helpers shared with the container entrypoint test ----------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, per stage: (INSTRUCTION, arguments), continuations joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def image_environment() -> dict[str, str]:
    """The ENV of the image's final stage."""
    env: dict[str, str] = {}
    for instruction, arguments in dockerfile_stages()[-1]:
        if instruction == "ENV":
            env.update(pair.split("=", 1) for pair in arguments.split())
    return env


def image_command() -> list[str]:
    """The final stage's CMD (exec form)."""
    commands = [json.loads(a) for i, a in dockerfile_stages()[-1] if i == "CMD"]
    assert len(commands) == 1
    return commands[0]


def compose() -> dict[str, Any]:
    """deploy/compose.yaml, anchors and merge keys resolved."""
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def make_secrets(directory: Path) -> Path:
    """Run deploy/make-secrets.sh as an operator would; its secrets folder beside it."""
    script = directory / "make-secrets.sh"
    shutil.copy(DEPLOY / "make-secrets.sh", script)
    subprocess.run(["sh", str(script)], check=True, capture_output=True)
    return directory / "secrets"


def with_secrets_in(environment: dict[str, str], secrets: Path) -> dict[str, str]:
    """`file:/run/secrets/NAME` values pointed at `secrets`/NAME, as compose mounts them."""
    return {
        name: value.replace(f"file:{SECRETS_MOUNT}", f"file:{secrets}/")
        for name, value in environment.items()
    }


def _k8s_documents() -> dict[str, dict[str, Any]]:
    documents = {}
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            documents[document["kind"]] = document
    return documents


# --- Dockerfile -------------------------------------------------------------------------------


def test_image_is_built_from_the_wheel_and_runs_the_gateway_as_a_non_root_user() -> None:
    build, final = dockerfile_stages()
    assert all("-slim" in args.split()[0] for i, args in (build[0], final[0]))
    assert any(i == "RUN" and "pip wheel" in a for i, a in build)
    assert ("COPY", "--from=build /wheels /wheels") in final
    assert any(i == "RUN" and "pip install" in a and "--no-index" in a for i, a in final)
    users = [a for i, a in final if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert image_command() == ["python", "-m", "gateway", "serve"]
    env = image_environment()
    assert env["EHP_SERVER__HOST"] == "0.0.0.0"  # noqa: S104 - a container listens on its own interface
    assert ("EXPOSE", env["EHP_SERVER__PORT"]) in final
    (healthcheck,) = [a for i, a in final if i == "HEALTHCHECK"]
    assert '"python"' in healthcheck and "/healthz" in healthcheck and "curl" not in healthcheck


def test_dockerignore_lets_in_exactly_what_the_build_copies() -> None:
    lines = (REPOSITORY / ".dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for instruction, arguments in dockerfile_stages()[0]:
        if instruction == "COPY" and not arguments.startswith("--from"):
            copied.update(arguments.split()[:-1])
    assert "*" in lines
    assert allowed == copied


# --- Kubernetes -------------------------------------------------------------------------------


def test_k8s_manifests_are_valid_kubernetes_objects() -> None:
    documents = _k8s_documents()
    assert set(documents) == {
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Kustomization",
    }
    for kind, document in documents.items():
        if kind != "Kustomization":
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    listed = set(documents["Kustomization"]["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_k8s_objects_fit_together() -> None:
    documents = _k8s_documents()
    deployment = documents["Deployment"]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert documents["Service"]["spec"]["selector"].items() <= labels.items()
    assert documents["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= (
        labels.items()
    )
    assert deployment["spec"]["replicas"] >= 2
    hpa = documents["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]

    (container,) = pod["spec"]["containers"]
    env = {item["name"]: item["value"] for item in container["env"]}
    (port,) = container["ports"]
    assert str(port["containerPort"]) == env["EHP_SERVER__PORT"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    # The gateway gives up on the audit store before the kubelet gives up on the probe.
    assert container["readinessProbe"]["timeoutSeconds"] > READINESS_AUDIT_TIMEOUT_S
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "command" not in container and "args" not in container  # the image's own command

    (secret_ref,) = container["envFrom"]
    assert secret_ref["secretRef"]["name"] == documents["Secret"]["metadata"]["name"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    config_volume = volumes[mounts[str(Path(env["EHP_CONFIG"]).parent)]]
    assert config_volume["configMap"]["name"] == documents["ConfigMap"]["metadata"]["name"]
    assert Path(env["EHP_CONFIG"]).name in documents["ConfigMap"]["data"]


def k8s_settings(directory: Path) -> Settings:
    """What a pod of deploy/k8s loads: the ConfigMap's file under the Deployment's and the
    Secret's environment."""
    documents = _k8s_documents()
    (container,) = documents["Deployment"]["spec"]["template"]["spec"]["containers"]
    config = directory / "gateway.toml"
    config.write_text(documents["ConfigMap"]["data"]["gateway.toml"], encoding="utf-8")
    env = {item["name"]: item["value"] for item in container["env"]}
    env |= documents["Secret"]["stringData"]
    return load_settings(config, env)


def test_k8s_configuration_is_one_the_gateway_accepts(tmp_path: Path) -> None:
    settings = k8s_settings(tmp_path)
    secret = _k8s_documents()["Secret"]["stringData"]
    assert settings.server.port == 8000 and settings.server.introspection is False
    assert settings.cache.backend == "redis"
    assert settings.cache.redis_url == secret["EHP_CACHE__REDIS_URL"]
    assert settings.audit.database_url == secret["EHP_AUDIT__DATABASE_URL"]
    assert settings.audit.database_url.startswith("postgresql://")
    by_name = {source.name: source for source in settings.sources}
    assert by_name["lis"].api_key == secret["EHP_SOURCES__LIS__API_KEY"]
    assert by_name["ehr-almaty"].token == secret["EHP_SOURCES__EHR_ALMATY__TOKEN"]
    assert len(settings.sources_of("fhir-ehr")) == 3


# --- docker compose ---------------------------------------------------------------------------


def test_compose_stack_is_complete_and_consistent() -> None:
    stack = compose()
    services = stack["services"]
    assert {"postgres", "redis", "proxy", "gateway-a", "gateway-b", "population", "issuer"} <= (
        services.keys()
    )
    emulators = {"register", "ehr-astana", "ehr-almaty", "ehr-shymkent", "lis", "dps", "ambulance"}
    assert emulators <= services.keys()
    for name, service in services.items():
        for dependency in service.get("depends_on", ()):
            assert dependency in services, (name, dependency)
        for secret in service.get("secrets", ()):
            assert secret in stack["secrets"], (name, secret)
        for config in service.get("configs", ()):
            assert config["source"] in stack["configs"], (name, config)
        for volume in service.get("volumes", ()):
            assert volume.split(":")[0] in stack["volumes"], (name, volume)
    for config in stack["configs"].values():
        assert (DEPLOY / config["file"]).is_file(), config
    # One image for everything, started as its Dockerfile says unless a service says otherwise.
    assert {services[n]["image"] for n in emulators | {"gateway-a", "population"}} == {
        "ehp-gateway:0.1.0"
    }
    assert "command" not in services["gateway-a"]
    assert services["gateway-a"]["environment"] == services["gateway-b"]["environment"]
    assert services["proxy"]["ports"] == ["127.0.0.1:8000:8080"]
    haproxy = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    port = services["gateway-a"]["environment"]["EHP_SERVER__PORT"]
    for replica in ("gateway-a", "gateway-b"):
        assert f"server {replica} {replica}:{port} check" in haproxy
    assert "option httpchk GET /readyz" in haproxy
    assert "bind :8080" in haproxy


def test_make_secrets_writes_every_secret_compose_names(tmp_path: Path) -> None:
    secrets = make_secrets(tmp_path)
    declared = {spec["file"] for spec in compose()["secrets"].values()}
    assert {f"./secrets/{path.name}" for path in secrets.iterdir()} == declared
    # The gateway's database and Redis URLs carry the passwords PostgreSQL and Redis are given.
    postgres = (secrets / "postgres_password").read_text()
    redis = (secrets / "redis_password").read_text()
    assert len(postgres) == 64 and postgres != redis
    assert (secrets / "audit_database_url").read_text() == (
        f"postgresql://ehp:{postgres}@postgres:5432/ehp"
    )
    assert (secrets / "cache_redis_url").read_text() == f"redis://:{redis}@redis:6379/0"
    before = {path.name: path.read_text() for path in secrets.iterdir()}
    subprocess.run(["sh", str(tmp_path / "make-secrets.sh")], check=True, capture_output=True)
    assert {path.name: path.read_text() for path in secrets.iterdir()} == before  # kept


def test_compose_configuration_is_one_the_gateway_accepts(tmp_path: Path) -> None:
    secrets = make_secrets(tmp_path)
    environment = compose()["services"]["gateway-a"]["environment"]
    env = with_secrets_in({**image_environment(), **environment}, secrets)
    settings = load_settings(DEPLOY / "gateway.toml", env)
    assert settings.cache.backend == "redis"
    assert settings.cache.redis_url == (secrets / "cache_redis_url").read_text()
    assert settings.cache.encryption_key == (secrets / "cache_encryption_key").read_text()
    assert settings.audit.database_url == (secrets / "audit_database_url").read_text()
    assert settings.audit.patient_key == (secrets / "audit_patient_key").read_text()
    assert settings.auth.jwks_file == "/var/lib/ehp/keys/jwks.json"
    by_name = {source.name: source for source in settings.sources}
    assert by_name["drugs"].client_secret == (secrets / "dps_client_secret").read_text()
    assert all(by_name[f"ehr-{r}"].token for r in ("astana", "almaty", "shymkent"))


def test_compose_gateway_without_its_secrets_refuses_to_start(tmp_path: Path) -> None:
    secrets = make_secrets(tmp_path)
    (secrets / "lis_api_key").unlink()
    environment = compose()["services"]["gateway-a"]["environment"]
    env = with_secrets_in({**image_environment(), **environment}, secrets)
    with pytest.raises(Exception, match=r"sources\[4\]\.api_key: cannot read secret file"):
        load_settings(DEPLOY / "gateway.toml", env)

"""Static checks of the deployment files (Docker cannot run here): compose files, Dockerfile, .dockerignore, Kubernetes.

Compose files are validated against the Compose Specification's JSON schema (vendored by check-jsonschema) and,
where a Docker CLI with compose is installed, by `docker compose config`; Kubernetes manifests against the
Kubernetes OpenAPI schemas shipped by kubernetes-validate; the Dockerfile is parsed by dockerfile-parse and its
build context computed with docker-py's own .dockerignore rules.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from framesearch.store.cluster import QDRANT_IMAGE

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILES = [ROOT / "docker-compose.yml", ROOT / "deploy" / "cluster" / "docker-compose.yml"]
CLUSTER = ROOT / "deploy" / "cluster" / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32.0"


def compose_schema() -> dict:
    return json.loads(resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text())


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_compose_files_follow_the_compose_specification(path):
    jsonschema.validate(load(path), compose_schema())


def test_the_compose_check_can_fail():
    broken = load(CLUSTER)
    broken["services"]["qdrant-1"]["volumez"] = broken["services"]["qdrant-1"].pop("volumes")  # a typo
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_schema())


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_docker_compose_config_accepts_the_file(path, tmp_path):
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("no `docker compose` here: the schema check above stands in for it")
    env = {"QDRANT_API_KEY": "k", "PATH": str(Path(docker).parent)}
    result = subprocess.run([docker, "compose", "-f", str(path), "config", "--quiet"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr


def test_the_cluster_has_three_replicated_nodes_and_the_service_points_at_it():
    services = load(CLUSTER)["services"]
    nodes = {name: s for name, s in services.items() if s.get("image", "").startswith("qdrant/")}
    assert sorted(nodes) == ["qdrant-1", "qdrant-2", "qdrant-3"]
    for name, node in nodes.items():
        assert node["image"] == QDRANT_IMAGE
        assert node["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        assert node["healthcheck"]["test"] and "/readyz" in " ".join(node["healthcheck"]["test"])
        own = [v for v in node["volumes"] if v.endswith(":/qdrant/storage")]
        assert own == [f"{name}:/qdrant/storage"], "each node keeps its storage in its own volume"
        assert f"--uri http://{name}:6335" in " ".join(node["command"])
    assert "--bootstrap" not in nodes["qdrant-1"]["command"]
    for name in ("qdrant-2", "qdrant-3"):
        assert "--bootstrap http://qdrant-1:6335" in " ".join(nodes[name]["command"])
        assert nodes[name]["depends_on"]["qdrant-1"]["condition"] == "service_healthy"
    service = services["framesearch"]
    assert re.match(r"http://qdrant-\d:6333$", service["environment"]["FRAMESEARCH_QDRANT_URL"])
    assert service["environment"]["FRAMESEARCH_REPLICAS"].endswith("2}")
    assert all(service["depends_on"][n]["condition"] == "service_healthy" for n in nodes)
    assert (CLUSTER.parent / service["build"]["context"] / service["build"]["dockerfile"]).resolve().is_file()


def test_one_qdrant_version_everywhere_and_the_client_pinned_to_its_line():
    images = {
        load(path)["services"][name]["image"]
        for path in COMPOSE_FILES
        for name, s in load(path)["services"].items()
        if "qdrant/" in s.get("image", "")
    }
    assert images == {QDRANT_IMAGE}
    tag = QDRANT_IMAGE.split(":v")[1]
    assert load(K8S / "qdrant-values.yaml")["image"]["tag"] == f"v{tag}"
    assert "QDRANT_IMAGE" in (ROOT / "tests" / "conftest.py").read_text()  # testcontainers runs the same image
    major, minor = tag.split(".")[:2]
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    client = next(d for d in deps if d.startswith("qdrant-client"))
    assert re.search(rf">={major}\.{minor}(\.\d+)?,<{major}\.{int(minor) + 1}\b", client), client


def dockerfile_copies() -> list[str]:
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=str(ROOT / "deploy" / "Dockerfile"))
    sources = []
    for instruction in parser.structure:
        if instruction["instruction"] == "COPY":
            args = [a for a in instruction["value"].split() if not a.startswith("--")]
            sources += args[:-1]
    return sources


def build_context() -> set[str]:
    from docker.utils.build import exclude_paths

    patterns = [p for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    return set(exclude_paths(str(ROOT), patterns, dockerfile="deploy/Dockerfile"))


def test_every_copy_source_exists_and_is_in_the_build_context():
    context = build_context()
    sources = dockerfile_copies()
    assert {"pyproject.toml", "README.md", "framesearch", "store", "cli"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert source in context, f"COPY {source}: excluded by .dockerignore"
    # every package folder pyproject installs is copied, or `pip install .` would miss it
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    folders = {p.split(".")[-1] for p in packages}  # framesearch/, and each layer's top-level folder linked into it
    assert folders <= set(sources)
    assert "store/base.py" in context and "embedders/models/tiny-shapes-clip/visual.onnx" in context


def test_the_build_context_leaves_out_environments_data_and_caches(tmp_path):
    context = build_context()
    for banned in (".venv", "data", "media", ".git", "tests", "models"):
        assert not any(p == banned or p.startswith(banned + "/") for p in context), f"{banned} is in the build context"
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in context)


def k8s_documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name.endswith("-values.yaml"):
            continue
        docs += [(f"{path.name}:{d['kind']}/{d['metadata']['name']}", d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


@pytest.mark.parametrize("name, document", k8s_documents(), ids=[n for n, _ in k8s_documents()])
def test_kubernetes_manifests_match_the_kubernetes_schemas(name, document):
    import kubernetes_validate

    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_kubernetes_check_can_fail_and_the_service_takes_its_keys_from_secrets():
    import kubernetes_validate

    deployment = next(d for _, d in k8s_documents() if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    keys = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert keys == {"FRAMESEARCH_QDRANT_API_KEY": "qdrant-apikey", "ROBOFLOW_API_KEY": "framesearch-secrets"}
    assert not any("KEY" in k for k in next(d for _, d in k8s_documents() if d["kind"] == "ConfigMap")["data"])
    container["ports"][0]["containerPort"] = "eight thousand"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_qdrant_helm_values_make_a_replicated_cluster_with_a_key():
    values = load(K8S / "qdrant-values.yaml")
    assert values["replicaCount"] >= 3 and values["config"]["cluster"]["enabled"] is True
    assert values["apiKey"] is True and values["persistence"]["size"]
    assert values["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": 1}


@pytest.mark.slow
def test_the_image_install_step_builds_from_only_what_the_dockerfile_copies(tmp_path):
    """`RUN pip install .` in the image sees only the COPYed files of the build context: a wheel built from
    exactly those (without Docker, which cannot run here) holds every layer, the bundled model and the page."""
    context, app = build_context(), tmp_path / "app"
    app.mkdir()
    for source in dockerfile_copies():
        files = [p for p in context if p == source or p.startswith(source + "/")]
        assert files, f"COPY {source}: nothing in the build context"
        for rel in files:
            if (ROOT / rel).is_symlink():  # COPY keeps links as links (framesearch/store -> ../store)
                (app / rel).parent.mkdir(parents=True, exist_ok=True)
                (app / rel).symlink_to(os.readlink(ROOT / rel))
            elif (ROOT / rel).is_file():
                (app / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, app / rel)
    out = tmp_path / "wheel"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(app)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    (built,) = out.glob("framesearch-*.whl")
    names = set(zipfile.ZipFile(built).namelist())
    for layer in ("store", "embedders", "ingest", "search", "service", "cli"):
        assert f"framesearch/{layer}/__init__.py" in names
    assert "framesearch/embedders/models/tiny-shapes-clip/visual.onnx" in names
    assert "framesearch/service/static/index.html" in names

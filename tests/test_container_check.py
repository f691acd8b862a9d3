"""The container check's own logic, without buildah: what it mounts into builds, what it reads from
the README, which images it throws away and which writes it counts as read-only violations.
(`make container-check` runs the check itself; it needs root, buildah and minutes.)"""

from __future__ import annotations

from pathlib import Path

from deploy.container_check import images, pip_access, probes
from deploy.container_check.buildah import outside

ROOT = Path(__file__).resolve().parent.parent


def test_pip_configuration_takes_variables_over_files() -> None:
    listed = "\n".join(
        [
            "global.find-links='/opt/wheels'",
            "global.extra-index-url='file:///opt/pypi/simple file:///opt/more/simple'",
            "install.timeout='60'",
            ":env:.find-links='/srv/wheels'",
            "not a setting",
        ]
    )
    assert pip_access.parse_config_list(listed) == {
        "find-links": "/srv/wheels",
        "extra-index-url": "file:///opt/pypi/simple file:///opt/more/simple",
        "timeout": "60",
    }


def test_builds_mount_the_local_package_folders_pip_names(tmp_path: Path) -> None:
    (tmp_path / "pypi" / "simple").mkdir(parents=True)
    (tmp_path / "pypi" / "files").mkdir()
    (tmp_path / "wheels" / "sub").mkdir(parents=True)
    (tmp_path / "ca.crt").write_text("")
    settings = {
        # an index links ../../files/..., so the folder above simple/ is what is mounted
        "extra-index-url": f"file://{tmp_path}/pypi/simple https://example.org/simple",
        "find-links": f"{tmp_path}/wheels {tmp_path}/wheels/sub {tmp_path}/absent",
        "cert": f"{tmp_path}/ca.crt",
        "timeout": "60",
    }
    access = pip_access.from_settings(settings)
    assert access.paths == (tmp_path / "ca.crt", tmp_path / "pypi", tmp_path / "wheels")
    assert access.index_url == pip_access.PYPI  # none configured: pip's default
    assert access.volumes(Path("/run/x/pip.conf")) == [
        "/run/x/pip.conf:/etc/pip.conf:ro",
        *(f"{path}:{path}:ro" for path in access.paths),
    ]
    assert "[global]" in access.config_text and f"cert = {tmp_path}/ca.crt" in access.config_text
    assert pip_access.from_settings({"index-url": "https://mirror/simple"}).index_url == (
        "https://mirror/simple"
    )


def test_the_readme_examples_the_check_runs_are_there() -> None:
    examples = probes.readme_examples((ROOT / "README.md").read_text())
    assert examples.commands and all(c.startswith("curl ") for c in examples.commands)
    assert all(probes.README_HOST in command for command in examples.commands)
    assert any(command.endswith("/predict/batch") for command in examples.commands)
    assert {"digit", "confidence", "probabilities", "model", "device"} <= set(examples.shown)
    assert "InferenceServerClient" in examples.python and probes.README_HOST in examples.python


def test_fingerprint_follows_the_dependency_stages_only(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    builder = "FROM base AS builder\nRUN pip install -r requirements.txt\n"
    dockerfile.write_text(builder + "\nFROM base AS runtime\nCOPY service/ service/\n")
    spec = images.ImageSpec("x", str(dockerfile), "PORT", "/health")  # ROOT / absolute = absolute
    before = spec.fingerprint("base-id", {}, "[global]\n")
    dockerfile.write_text(builder + "\nFROM base AS runtime\nCOPY migrations/ migrations/\n")
    assert spec.fingerprint("base-id", {}, "[global]\n") == before
    assert spec.fingerprint("other-base", {}, "[global]\n") != before
    assert spec.fingerprint("base-id", {"TORCH_INDEX_URL": "u"}, "[global]\n") != before
    dockerfile.write_text(builder.replace("requirements", "other") + "\nFROM base AS runtime\n")
    assert spec.fingerprint("base-id", {}, "[global]\n") != before


def test_stale_tags_are_this_images_check_tags_not_kept() -> None:
    names = [
        "localhost/mnist-digits-api:check-aaa",
        "localhost/mnist-digits-api:check-aaa-111",
        "localhost/mnist-digits-api:check-bbb",
        "localhost/mnist-digits-api-builder:check-bbb",
        "localhost/mnist-digits-api-builder:check-aaa",
        "localhost/mnist-digits-api:1.0.0",
        "localhost/mnist-digits-ui:check-bbb",
        "localhost/mnist-digits-base:bookworm-python3.11",
    ]
    keep = {"localhost/mnist-digits-api:check-aaa", "localhost/mnist-digits-api-builder:check-aaa"}
    assert images.stale_tags(images.API, names, keep) == [
        "localhost/mnist-digits-api:check-aaa-111",
        "localhost/mnist-digits-api:check-bbb",
        "localhost/mnist-digits-api-builder:check-bbb",
    ]


def test_inputs_digest_covers_every_file_the_images_copy() -> None:
    for spec in (images.API, images.UI):
        copied = {str(path.relative_to(ROOT)) for path in images.copied_files(spec)}
        assert "pyproject.toml" in copied
        assert not any("__pycache__" in path or path.endswith(".pyc") for path in copied)
    api = {str(path.relative_to(ROOT)) for path in images.copied_files(images.API)}
    assert {"service/app.py", "training/model.py", "models/mnist_cnn_model.pth"} <= api
    ui = {str(path.relative_to(ROOT)) for path in images.copied_files(images.UI)}
    assert "frontend/app.py" in ui and not any(path.startswith("service/") for path in ui)
    digest = images.inputs_digest(images.API, "builder-1")
    assert images.inputs_digest(images.API, "builder-1") == digest
    assert images.inputs_digest(images.API, "builder-2") != digest


def test_writes_under_tmp_and_volumes_are_allowed_and_others_are_not() -> None:
    paths = ["/tmp", "/tmp/x", "/data/app.db", "/app/service/__pycache__", "/tmpfile", "/etc"]
    assert outside(paths, ["/tmp", "/data/"]) == ["/app/service/__pycache__", "/etc", "/tmpfile"]

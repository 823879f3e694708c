"""`pip install` of the package into a clean venv, non-editable: what PyPI and image users get.

How it stays fast and still honest:
* The venv is new and empty (`python -m venv --without-pip`, no system site-packages), and the
  package is built from the repository by pip with build isolation (poetry-core comes from
  PyPI or pip's cache) and installed as a wheel with `--no-deps --ignore-installed`.
* The dependencies are not downloaded again (82 distributions, about 35 s): one `.pth` line puts
  the project venv's site-packages on the new venv's path. Python does not run the `.pth` files of
  a directory that a `.pth` line adds, so the project's editable hook (source_fastbill.pth ->
  the repository) stays inert: the test first proves that `import source_fastbill` fails there.
* What a full install would add, that the dependencies the package declares resolve to the locked
  versions, is checked against constraints.txt; `make image-test` does the full install in the
  image. Files are compared with the repository's source_fastbill/.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "source_fastbill"
PRO_STREAMS = {"customers", "contacts", "invoices", "recurring_invoices", "revenues", "expenses",
               "products", "projects", "time_entries", "estimates", "templates",
               "documents", "document_folders", "webhooks"}  # fmt: skip
AUTOMATIC_STREAMS = {"customers", "invoices", "products", "templates", "subscriptions", "coupons"}
# Child streams: their schemas are derived from the parents' (source_fastbill/children.py).
PRO_CHILDREN = {"invoice_items", "invoice_payments", "invoice_vat_items", "recurring_invoice_items",
                "revenue_items", "expense_items", "estimate_items", "project_tasks"}  # fmt: skip
AUTOMATIC_CHILDREN = {"invoice_items", "invoice_vat_items", "subscription_addons"}

pytestmark = pytest.mark.slow  # builds a wheel and starts four processes, about 8 s


@dataclass(frozen=True)
class CleanVenv:
    python: Path
    site_packages: Path
    import_before_install: subprocess.CompletedProcess[str]

    @property
    def executable(self) -> Path:
        return self.python.parent / "source-fastbill"

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            list(args), capture_output=True, text=True, timeout=120, cwd=cwd, check=False
        )
        assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done

    def evaluate(self, code: str) -> Any:
        """A JSON value computed by the venv's Python (outside the repository)."""
        done = self.run(str(self.python), "-c", code, cwd=self.python.parent)
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> CleanVenv:
    root = tmp_path_factory.mktemp("clean-install")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    (site / "_project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    before = subprocess.run(
        [str(python), "-c", "import source_fastbill"], capture_output=True, text=True, cwd=root
    )
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    subprocess.run(
        [*pip, "--no-deps", "--ignore-installed", "-c", str(ROOT / "constraints.txt"), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return CleanVenv(python, site, before)


def test_the_repository_is_not_visible_before_the_install(venv: CleanVenv) -> None:
    assert venv.import_before_install.returncode == 1
    assert "No module named 'source_fastbill'" in venv.import_before_install.stderr


def test_the_package_is_installed_from_a_wheel_not_editable(venv: CleanVenv) -> None:
    found = venv.evaluate(
        "import importlib.metadata as m, json, source_fastbill;"
        "d = m.distribution('source-fastbill');"
        "print(json.dumps([source_fastbill.__file__, d.version, d.read_text('direct_url.json')]))"
    )
    module_file, version, direct_url = found
    assert Path(module_file) == venv.site_packages / "source_fastbill" / "__init__.py"
    assert version == "1.1.0"
    assert json.loads(direct_url) == {"dir_info": {}, "url": ROOT.as_uri()}  # no "editable"
    assert venv.executable.is_file()


def test_every_package_file_is_installed_unchanged(venv: CleanVenv) -> None:
    repo_files = {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    installed = set(
        venv.evaluate(
            "import importlib.metadata as m, json;"
            "files = m.distribution('source-fastbill').files;"  # .pyc: compiled at install
            "print(json.dumps([f.as_posix() for f in files"
            " if f.parts[0] == 'source_fastbill' and f.suffix != '.pyc']))"
        )
    )
    assert installed == repo_files
    assert {"source_fastbill/spec.yaml", "source_fastbill/schemas/invoices.json"} <= installed
    schemas = [f for f in installed if f.startswith("source_fastbill/schemas/")]
    assert len(schemas) == 16  # one per parent stream (13, + documents, folders, webhooks)
    for name in repo_files:
        assert (venv.site_packages / name).read_bytes() == (ROOT / name).read_bytes(), name


def test_the_wheel_ships_the_connector_alone(venv: CleanVenv) -> None:
    # fastbill_sandbox is a dev package: the editable install imports it, the wheel leaves it out.
    tops = venv.evaluate(
        "import importlib.metadata as m, json;"
        "print(json.dumps(sorted({f.parts[0] for f in m.distribution('source-fastbill').files})))"
    )
    assert "fastbill_sandbox" not in tops and "source_fastbill" in tops
    assert not (venv.site_packages / "fastbill_sandbox").exists()


def _messages(done: subprocess.CompletedProcess[str], kind: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in done.stdout.splitlines()]
    return [message for message in parsed if message["type"] == kind]


def test_spec_runs_from_the_console_script(venv: CleanVenv, tmp_path: Path) -> None:
    (spec,) = _messages(venv.run(str(venv.executable), "spec", cwd=tmp_path), "SPEC")
    declared = yaml.safe_load((PACKAGE / "spec.yaml").read_text())
    assert spec["spec"]["connectionSpecification"] == declared["connectionSpecification"]
    assert spec["spec"]["connectionSpecification"]["required"] == ["username", "api_key"]


def _unreachable_url() -> str:
    """A loopback port nobody listens on: discover must not need the API at all."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/1.0/api.php"


def _discover(venv: CleanVenv, tmp_path: Path, edition: str) -> dict[str, Mapping[str, Any]]:
    config = tmp_path / f"{edition}.json"
    settings = {"username": "someone@example.com", "api_key": "not-a-real-key-0123456789",
                "edition": edition, "api_url": _unreachable_url()}  # fmt: skip
    config.write_text(json.dumps(settings))
    done = venv.run(str(venv.executable), "discover", "--config", str(config), cwd=tmp_path)
    (catalog,) = _messages(done, "CATALOG")
    return {stream["name"]: stream["json_schema"] for stream in catalog["catalog"]["streams"]}


def test_discover_serves_the_packaged_schemas_without_network(
    venv: CleanVenv, tmp_path: Path
) -> None:
    pro = _discover(venv, tmp_path, "pro")
    automatic = _discover(venv, tmp_path, "automatic")
    assert set(pro) == PRO_STREAMS | PRO_CHILDREN
    assert set(automatic) == AUTOMATIC_STREAMS | AUTOMATIC_CHILDREN
    parents = {name: schema for name, schema in {**pro, **automatic}.items()
               if name in PRO_STREAMS | AUTOMATIC_STREAMS}  # fmt: skip
    for name, schema in parents.items():
        assert schema == json.loads((PACKAGE / "schemas" / f"{name}.json").read_text()), name
    assert {f"{name}.json" for name in parents} == {
        path.name for path in (PACKAGE / "schemas").glob("*.json")
    }
    for name in PRO_CHILDREN:
        assert "LASTUPDATE" in pro[name]["properties"] or name in {
            "recurring_invoice_items",
            "project_tasks",
        }, name


def test_declared_dependencies_resolve_to_the_locked_versions(venv: CleanVenv) -> None:
    locked = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    locked = {name.lower().replace("_", "-"): version for name, version in locked.items()}
    requires = venv.evaluate(
        "import importlib.metadata as m, json;"
        "print(json.dumps(m.distribution('source-fastbill').requires))"
    )
    runtime = [Requirement(text) for text in requires if Requirement(text).marker is None]
    assert sorted(r.name for r in runtime) == ["airbyte-cdk", "dateparser", "pendulum", "requests"]
    names = [r.name for r in runtime]
    versions = venv.evaluate(
        f"import importlib.metadata as m, json; print(json.dumps([m.version(n) for n in {names}]))"
    )
    for requirement, version in zip(runtime, versions, strict=True):
        assert version == locked[requirement.name], requirement.name
        assert requirement.specifier.contains(version), str(requirement)
    venv.run(sys.executable, "-m", "pip", "--python", str(venv.python), "check")

"""Airbyte's acceptance checks for source-fastbill, in-process, against the local sandbox.

Two parts, both driven by acceptance-test-config.yml and the golden files in integration_tests/:

* `TestStandardSuite`: the CDK's standard ("FAST") tests, `SourceTestSuiteBase` of airbyte-cdk
  7.39.1, imported directly. `airbyte-cdk[dev]` pins pytest<8; the suite itself runs on the
  project's pytest 9, so only `pytest_generate_tests` (which parametrizes `scenario` from the
  config file) is taken from its pytest plugin. Its image tests are skipped (IMAGE_TESTS_SKIPPED).
* The checks of the retired Connector Acceptance Tests that the standard tests dropped:
  expected records, two identical full refreshes, and the incremental section (a second read
  from the saved state, and an abnormally large state). The standard tests reject their config
  keys, so they are written here.

A session fixture serves the sandbox (Pro, seed 42) on a free port. The configs the scenarios name
(integration_tests/sample_config.json, invalid_config.json) keep api_url 127.0.0.1:18089, the
documented port of a sandbox started by hand; the tests never use it. Each scenario reads a session
copy of its config file instead, the same but for api_url, which points at the session's sandbox.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
from airbyte_cdk.models import (
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalogSerializer,
    Status,
)
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.models.scenario import ExpectedOutcome
from airbyte_cdk.test.standard_tests import ConnectorTestScenario, SourceTestSuiteBase
from airbyte_cdk.test.standard_tests.pytest_hooks import pytest_generate_tests

from fastbill_sandbox import FastbillSandbox
from fastbill_sandbox.data import CURRENT_MONTH_TIME_ENTRIES, stream_counts
from fastbill_sandbox.server import LOOPBACK_HOSTS
from source_fastbill import SourceFastbill, estimates

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "integration_tests"
SAMPLE_CONFIG: dict[str, Any] = json.loads((TESTS / "sample_config.json").read_text())
# The session copies of the scenarios' config files, at their paths relative to ROOT. Named when
# the module is imported, since the scenarios are collected before any fixture runs; created, and
# removed again, by the `scenario_configs` fixture.
SESSION_CONFIGS = Path(tempfile.gettempdir()) / f"source-fastbill-scenarios-{uuid.uuid4().hex}"
IMAGE_TESTS_SKIPPED = (
    "the CDK's image tests need a Docker daemon and the Airbyte monorepo's Dockerfile template; "
    "`make image-test` builds ./Dockerfile with podman and runs spec, check, discover and read "
    "in it instead"
)

__all__ = ["pytest_generate_tests"]  # the CDK hook that parametrizes `scenario`: keep it exported


def session_copy(config_path: Path) -> Path:
    """Where the session keeps its copy of a scenario's config file (a path relative to ROOT)."""
    assert not config_path.is_absolute(), f"{config_path}: expected a path relative to the root"
    return SESSION_CONFIGS / config_path


def pointed_at(sandbox: FastbillSandbox, config: dict[str, Any], source: str) -> dict[str, Any]:
    """`config`, read from `source`, with its api_url moved to the sandbox's port."""
    host = urlsplit(config["api_url"]).hostname
    assert host in LOOPBACK_HOSTS, f"{source} points at {host}, not at the local sandbox"
    return {**config, "api_url": sandbox.url}


@pytest.fixture(scope="session")
def sample_sandbox() -> Iterator[FastbillSandbox]:
    """The sandbox the golden files were read from, on a free port: read-only, shared."""
    with FastbillSandbox(edition="pro", size=1.0, seed=42, port=0, rate_limit=None) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def sample_config(sample_sandbox: FastbillSandbox) -> dict[str, Any]:
    """sample_config.json, pointed at the session's sandbox."""
    return pointed_at(sample_sandbox, SAMPLE_CONFIG, "integration_tests/sample_config.json")


@pytest.fixture(scope="session")
def scenario_configs(sample_sandbox: FastbillSandbox) -> Iterator[None]:
    """Write the session copies of the scenarios' config files (see `get_scenarios`)."""
    SESSION_CONFIGS.mkdir(mode=0o700)
    try:
        for scenario in TestStandardSuite.file_scenarios():
            if scenario.config_path is None:
                continue
            in_file = scenario.get_config_dict(connector_root=ROOT, empty_if_missing=False)
            config = pointed_at(sample_sandbox, in_file, str(scenario.config_path))
            copy = session_copy(scenario.config_path)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(json.dumps(config))
        yield
    finally:
        shutil.rmtree(SESSION_CONFIGS, ignore_errors=True)


class TestStandardSuite(SourceTestSuiteBase):
    """spec, check (valid and invalid config), discover, basic_read, bad catalog, config vs spec."""

    connector = SourceFastbill
    connector_name = "source-fastbill"  # the suite would take the folder name, "main"

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return ROOT

    @classmethod
    def file_scenarios(cls) -> list[ConnectorTestScenario]:
        """The scenarios of acceptance-test-config.yml, reading the config files it names."""
        return super().get_scenarios()

    @classmethod
    def get_scenarios(cls) -> list[ConnectorTestScenario]:
        """The scenarios, each reading the session copy of its config file (`scenario_configs`).

        Collection calls this before the sandbox starts, so the copies' paths are fixed here and
        the files are written by the fixture. A scenario reads its config file when it runs.
        """
        return [
            scenario.model_copy(update={"config_path": session_copy(scenario.config_path)})
            if scenario.config_path is not None
            else scenario
            for scenario in cls.file_scenarios()
        ]

    @pytest.fixture(autouse=True)
    def _sandbox(self, scenario_configs: None) -> None:
        """Every scenario talks to the session's sandbox, through its config's session copy."""

    def test_config_matches_spec(self, scenario: ConnectorTestScenario) -> None:
        # CDK 7.39.1 bug: run_test_job passes the scenario's read catalog to `spec` as well, and
        # `spec --catalog ...` is rejected by argparse, whenever the config that the `spec` section
        # lists is also read (basic_read/full_refresh). `spec` takes no catalog, so drop it.
        super().test_config_matches_spec(
            scenario.model_copy(update={"configured_catalog_path": None})
        )

    @pytest.mark.skip(reason=IMAGE_TESTS_SKIPPED)
    def test_docker_image_build_and_spec(self) -> None: ...

    @pytest.mark.skip(reason=IMAGE_TESTS_SKIPPED)
    def test_docker_image_spec_backward_compatibility(self) -> None: ...

    @pytest.mark.skip(reason=IMAGE_TESTS_SKIPPED)
    def test_docker_image_build_and_check(self) -> None: ...

    @pytest.mark.skip(reason=IMAGE_TESTS_SKIPPED)
    def test_docker_image_build_and_config_matches_spec(self) -> None: ...

    @pytest.mark.skip(reason=IMAGE_TESTS_SKIPPED)
    def test_docker_image_build_and_discover(self) -> None: ...

    @pytest.mark.skip(reason=IMAGE_TESTS_SKIPPED)
    def test_docker_image_build_and_read(self) -> None: ...


def test_every_cdk_image_test_is_skipped_here() -> None:
    """A CDK upgrade that adds an image test must not run it against a missing Docker daemon."""
    inherited = {name for name in dir(SourceTestSuiteBase) if name.startswith("test_docker")}
    overridden = {name for name in vars(TestStandardSuite) if name.startswith("test_docker")}
    assert inherited == overridden, f"not skipped: {sorted(inherited - overridden)}"


def test_every_scenario_reads_its_config_pointed_at_the_session_sandbox(
    sample_sandbox: FastbillSandbox, scenario_configs: None
) -> None:
    """No scenario depends on the port in its config file, which may be another process's."""
    originals = TestStandardSuite.file_scenarios()
    scenarios = TestStandardSuite.get_scenarios()
    assert [s.id for s in scenarios] == [s.id for s in originals]
    assert sorted(s.id for s in scenarios) == ["invalid_config", "sample_config"]
    for original, scenario in zip(originals, scenarios, strict=True):
        in_file = original.get_config_dict(connector_root=ROOT, empty_if_missing=False)
        config = scenario.get_config_dict(connector_root=ROOT, empty_if_missing=False)
        assert config == {**in_file, "api_url": sample_sandbox.url}, scenario.id


def test_invalid_config_fails_check_on_its_credentials(
    sample_sandbox: FastbillSandbox, scenario_configs: None
) -> None:
    """The scenario expecting `check` to fail reaches the sandbox, which refuses its credentials.

    The standard suite's test_check only asks for a FAILED status, which a config pointing where
    nothing (or something else) listens would give too.
    """
    (scenario,) = [s for s in TestStandardSuite.get_scenarios() if s.status == "failed"]
    config = scenario.get_config_dict(connector_root=ROOT, empty_if_missing=False)
    assert config["api_url"] == sample_sandbox.url
    auth_failures = sample_sandbox.stats()["auth_failures"]
    status = SourceFastbill().check(logging.getLogger("airbyte"), config)
    assert status.status == Status.FAILED
    assert sample_sandbox.stats()["auth_failures"] > auth_failures, status.message


# ---------------------------------------------------------------------------------------------
# What the Connector Acceptance Tests checked and the standard tests do not


def _load_golden() -> ModuleType:
    spec = importlib.util.spec_from_file_location("golden", ROOT / "scripts" / "golden.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _catalog(name: str) -> Any:
    return ConfiguredAirbyteCatalogSerializer.load(json.loads((TESTS / name).read_text()))


def _read(
    config: dict[str, Any], catalog_file: str, state: list[dict[str, Any]] | None = None
) -> EntrypointOutput:
    states = [AirbyteStateMessageSerializer.load(s) for s in state] if state is not None else None
    output = read(SourceFastbill(), config, _catalog(catalog_file), state=states)
    assert not output.errors, output.get_formatted_error_message()
    return output


def _records(output: EntrypointOutput) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for message in output.records:
        assert message.record is not None
        found.setdefault(message.record.stream, []).append(dict(message.record.data))
    return found


def _final_states(output: EntrypointOutput) -> list[dict[str, Any]]:
    """The last state of each stream, in the `--state` file format."""
    last: dict[str, dict[str, Any]] = {}
    for message in output.state_messages:
        assert message.state is not None and message.state.stream is not None
        dumped = AirbyteStateMessageSerializer.dump(message.state)
        last[message.state.stream.stream_descriptor.name] = {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": dumped["stream"]["stream_descriptor"],
                "stream_state": dumped["stream"]["stream_state"],
            },
        }
    return list(last.values())


@pytest.fixture(scope="module")
def full_refresh(sample_config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return _records(_read(sample_config, "configured_catalog.json"))


def test_full_refresh_reads_every_sandbox_record(
    sample_sandbox: FastbillSandbox, full_refresh: dict[str, list[dict[str, Any]]]
) -> None:
    expected = stream_counts(sample_sandbox.counts(), full_refresh)
    # end_date 2026-10-31 leaves out the time entries the sandbox dates in the current month.
    expected["time_entries"] -= CURRENT_MONTH_TIME_ENTRIES
    assert {stream: len(rows) for stream, rows in full_refresh.items()} == expected
    assert sum(expected.values()) == 1289


def test_expected_records_match_the_connector(
    full_refresh: dict[str, list[dict[str, Any]]],
) -> None:
    golden = _load_golden()
    current = golden.render(full_refresh)
    assert current == golden.EXPECTED_RECORDS.read_text(), (
        "integration_tests/expected_records.jsonl differs from what the connector reads: "
        "if the change is intended, run `.venv/bin/python scripts/golden.py`"
    )
    lines = [json.loads(line) for line in current.splitlines()]
    assert Counter(line["stream"] for line in lines) == {
        "customers": 20, "contacts": 20, "invoices": 20, "recurring_invoices": 15,
        "revenues": 20, "expenses": 20, "products": 20, "projects": 20, "time_entries": 20,
        "estimates": 20, "templates": 3, "documents": 20, "document_folders": 5, "webhooks": 3,
    }  # fmt: skip


def test_two_full_refreshes_are_identical(
    sample_config: dict[str, Any], full_refresh: dict[str, list[dict[str, Any]]]
) -> None:
    assert _records(_read(sample_config, "configured_catalog.json")) == full_refresh


def test_incremental_reads_what_full_refresh_reads(
    sample_config: dict[str, Any], full_refresh: dict[str, list[dict[str, Any]]]
) -> None:
    incremental = _records(_read(sample_config, "configured_catalog_incremental.json"))
    assert sorted(incremental) == ["estimates", "expenses", "invoices", "revenues", "time_entries"]
    for stream, rows in incremental.items():
        assert _sorted(rows) == _sorted(full_refresh[stream]), stream


def _sorted(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


def test_second_incremental_read_re_emits_only_the_time_entry_lookback(
    sample_config: dict[str, Any], full_refresh: dict[str, list[dict[str, Any]]]
) -> None:
    first = _read(sample_config, "configured_catalog_incremental.json")
    state = _final_states(first)
    assert len(state) == 5
    second = _read(sample_config, "configured_catalog_incremental.json", state)
    # Nothing changed in the sandbox. Streams with LASTUPDATE re-read the 30-day lookback but emit
    # only records whose LASTUPDATE moved: none. Time entries have no LASTUPDATE, so the ones dated
    # in the lookback (2026-10-01 to end_date) come again; append_dedup on TIME_ID absorbs them.
    lookback = {
        row["TIME_ID"] for row in full_refresh["time_entries"] if row["DATE"] >= "2026-10-01"
    }
    again = _records(second)
    assert sorted(again) == ["time_entries"]
    assert {row["TIME_ID"] for row in again["time_entries"]} == lookback
    assert len(lookback) == 13

    def positions(states: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Each stream's saved position: its state without the record count (estimates.py)."""
        found = {}
        for s in states:
            own = {k: v for k, v in s["stream"]["stream_state"].items() if k != estimates.KEY}
            found[s["stream"]["stream_descriptor"]["name"]] = own
        return found

    assert positions(_final_states(second)) == positions(state)  # streams end in any order


def test_an_abnormally_large_state_reads_no_records_and_names_each_stream(
    sample_sandbox: FastbillSandbox, sample_config: dict[str, Any]
) -> None:
    # Issue 15 §1: a state after today is not followed silently (every later sync would read
    # nothing); each stream fails with a config error naming it, before any call.
    abnormal = json.loads((TESTS / "abnormal_state.json").read_text())
    calls_before = sample_sandbox.stats()["calls"]
    states = [AirbyteStateMessageSerializer.load(s) for s in abnormal]
    output = read(
        SourceFastbill(),
        sample_config,
        _catalog("configured_catalog_incremental.json"),
        state=states,
        expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION,
    )
    assert len(output.records) == 0
    assert sample_sandbox.stats()["calls"] == calls_before
    named = {
        e.trace.error.stream_descriptor.name
        for e in output.errors
        if e.trace.error.stream_descriptor
    }
    assert named == {s["stream"]["stream_descriptor"]["name"] for s in abnormal}
    assert all(e.trace.error.failure_type.value == "config_error" for e in output.errors)


def test_acceptance_config_lists_the_golden_files() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "acceptance-test-config.yml").read_text())
    tests = config["acceptance_tests"]
    assert config["connector_image"] == "airbyte/source-fastbill:dev"
    assert set(tests) == {
        "spec", "connection", "discovery", "basic_read", "full_refresh", "incremental"
    }  # fmt: skip
    incremental = tests["incremental"]["tests"][0]
    future_state = incremental["future_state"]["future_state_path"]
    assert future_state == "integration_tests/abnormal_state.json"
    paths = [
        value
        for section in tests.values()
        for entry in section["tests"]
        for key, value in entry.items()
        if key.endswith("_path")
    ] + [future_state]
    assert all((ROOT / path).is_file() for path in paths), paths

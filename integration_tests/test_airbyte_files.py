"""The files Airbyte's registry, build and docs tooling read agree with each other and the code.

metadata.yaml, Dockerfile, .dockerignore, icon.svg and docs/fastbill.md are checked here the way
Airbyte's QA checks would (docs/contributing-to-airbyte/resources/qa-checks.md), plus what a
standalone image needs. No process is started: these run in milliseconds.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from source_fastbill import catalog as catalog_module
from source_fastbill import (
    changes,
    clock,
    errors,
    incremental,
    paging,
    pipeline,
    progress,
    quota,
    state_file,
    transport,
)
from source_fastbill import config as config_module
from source_fastbill import run as run_module
from source_fastbill.children import ALL_STREAMS, by_name

ROOT = Path(__file__).resolve().parents[1]
OLD_DEFINITION_ID = "eb3e9c1c-0467-4eb7-a172-5265e04ccd0a"  # the 0.x low-code connector
DIGEST_PINNED_BASE = re.compile(
    r"^docker\.io/airbyte/python-connector-base:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$"
)


def _metadata() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]


def _pyproject(key: str) -> str:
    """A `key = "value"` line of pyproject.toml (tomllib is not in Python 3.10)."""
    found = re.findall(rf'^{re.escape(key)} = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert len(found) == 1, f"{key}: {found}"
    return str(found[0])


def _spec() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "source_fastbill" / "spec.yaml").read_text())


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _docs() -> str:
    return (ROOT / "docs" / "fastbill.md").read_text()


def _docs_section(title: str) -> str:
    text = _docs()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _changelog_rows() -> list[list[str]]:
    details = _docs_section("Changelog")
    assert "<details>" in details and "<summary>Expand to review</summary>" in details
    rows = [line for line in details.splitlines() if line.startswith("|")]
    assert [c.strip() for c in rows[0].strip("|").split("|")] == [
        "Version", "Date", "Pull Request", "Subject"
    ]  # fmt: skip
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]


def test_one_version_everywhere() -> None:
    version = _pyproject("version")
    assert version == "1.1.0"
    assert _metadata()["dockerImageTag"] == version
    assert f"io.airbyte.version={version}" in _dockerfile()
    assert f"io.airbyte.name={_metadata()['dockerRepository']}" in _dockerfile()
    newest = _changelog_rows()[0]
    assert newest[:2] == [version, _metadata()["releaseDate"]] == ["1.1.0", "2026-12-01"]


def test_metadata_has_what_the_registry_requires() -> None:
    data = _metadata()
    required = ["name", "definitionId", "connectorType", "dockerRepository", "dockerImageTag",
                "license", "documentationUrl", "githubIssueLabel", "connectorSubtype",
                "releaseStage"]  # fmt: skip
    assert [key for key in required if not data.get(key)] == []
    raw = yaml.safe_load((ROOT / "metadata.yaml").read_text())
    assert raw["metadataSpecVersion"] == "1.0"
    assert (data["name"], data["connectorType"], data["connectorSubtype"]) == (
        "FastBill", "source", "api"
    )  # fmt: skip
    assert data["dockerRepository"] == "airbyte/source-fastbill"
    assert data["githubIssueLabel"] == "source-fastbill"
    assert (data["releaseStage"], data["supportLevel"]) == ("alpha", "community")
    assert data["tags"] == ["language:python", "cdk:python"]


def test_metadata_is_a_new_definition() -> None:
    definition = uuid.UUID(_metadata()["definitionId"])
    assert definition.version == 4
    assert str(definition) != OLD_DEFINITION_ID


def test_metadata_agrees_with_the_package() -> None:
    data = _metadata()
    assert data["license"] == _pyproject("license") == "MIT"
    # No registry release the connector does not have: nothing is on PyPI yet.
    assert data["remoteRegistries"]["pypi"] == {
        "enabled": False, "packageName": _pyproject("name")
    }  # fmt: skip
    assert data["documentationUrl"] == _spec()["documentationUrl"]
    assert DIGEST_PINNED_BASE.match(data["connectorBuildOptions"]["baseImage"])
    assert "breakingChanges" not in data.get("releases", {})  # a new definition breaks nothing


def test_allowed_hosts_cover_every_default_api_url() -> None:
    hosts = _metadata()["allowedHosts"]["hosts"]
    defaults = {urlsplit(url).hostname for url in config_module.API_URLS.values()}
    assert defaults <= set(hosts)
    assert hosts == ["my.fastbill.com", "app.monsum.com", "automatic.fastbill.com"]
    assert all(host in _spec()["connectionSpecification"]["properties"]["api_url"]["description"]
               for host in hosts)  # fmt: skip


def test_allowed_hosts_are_the_editions_hosts_and_the_older_automatic_host() -> None:
    hosts = _metadata()["allowedHosts"]["hosts"]
    editions = [urlsplit(url).hostname for url in config_module.API_URLS.values()]
    assert "*" not in hosts
    assert sorted(hosts) == sorted([*editions, "automatic.fastbill.com"])


def test_suggested_streams_are_discovered_stream_names() -> None:
    suggested = _metadata()["suggestedStreams"]["streams"]
    # The default edition (Pro) discovers every suggested stream.
    assert suggested and len(set(suggested)) == len(suggested)
    assert set(suggested) <= set(by_name("pro"))


def test_icon_is_square() -> None:
    icon = (ROOT / _metadata()["icon"]).read_text()
    width, height = (re.search(rf'{side}="(\d+)"', icon) for side in ("width", "height"))
    assert width and height and width[1] == height[1]
    assert 'viewBox="0 0 250 250"' in icon


def test_dockerfile_follows_the_python_connector_conventions() -> None:
    dockerfile = _dockerfile()
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in dockerfile
    assert dockerfile.count("FROM ${BASE_IMAGE}") == 2
    assert "-c constraints.txt ." in dockerfile  # installed from the lock, not editable
    assert "COPY --from=builder /usr/local /usr/local" in dockerfile
    assert "<<" not in dockerfile  # buildah 1.28 cannot parse heredocs
    assert re.search(r"^USER 1000$", dockerfile, re.MULTILINE)
    assert "--uid 1000" in dockerfile


def test_entrypoint_runs_the_console_script_and_matches_airbyte_entrypoint() -> None:
    dockerfile = _dockerfile()
    (entrypoint,) = re.findall(r"^ENTRYPOINT (.+)$", dockerfile, re.MULTILINE)
    (declared,) = re.findall(r'^ENV AIRBYTE_ENTRYPOINT="(.+)"$', dockerfile, re.MULTILINE)
    assert json.loads(entrypoint) == [declared] == ["/entrypoint.sh"]
    script = re.search(r"RUN printf '(.+?)' > /entrypoint.sh", dockerfile)
    assert script, "the entrypoint is written with printf"
    assert script[1] == '#!/bin/sh\\nset -e\\nexec source-fastbill "$@"\\n'
    assert _pyproject("source-fastbill") == "source_fastbill.run:run"  # [project.scripts]


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    must = {"secrets/", ".venv/", ".git/", ".demo/", ".bench/", ".image-build/",
            ".pytest_cache/", ".ruff_cache/", "**/__pycache__/"}  # fmt: skip
    assert must <= ignored


def test_docs_follow_the_airbyte_header_order() -> None:
    headers = re.findall(r"^## (.+)$", _docs(), re.MULTILINE)
    wanted = ["Prerequisites", "Setup guide", "Set up FastBill",
              "Set up the FastBill connector in Airbyte", "Supported sync modes",
              "Supported Streams", "Data type map", "Limitations & Troubleshooting",
              "Changelog"]  # fmt: skip
    assert [h for h in headers if h in wanted] == wanted
    assert _docs().startswith("# FastBill\n")


def test_prerequisites_name_every_required_field_and_docs_every_field() -> None:
    connection = _spec()["connectionSpecification"]
    prerequisites = _docs_section("Prerequisites")
    assert connection["required"] == ["username", "api_key"]
    assert all(f"`{field}`" in prerequisites for field in connection["required"])
    table = _docs_section("Set up the FastBill connector in Airbyte")
    assert all(f"| `{field}` |" in table for field in connection["properties"])


def _editions(editions: frozenset[str]) -> str:
    return ", ".join(edition for edition in ("pro", "automatic") if edition in editions)


def test_docs_list_every_stream_with_its_primary_key_and_editions() -> None:
    rows = {
        (cells[0], cells[3], cells[5])
        for line in _docs_section("Supported Streams").splitlines()
        if line.startswith("| ") and not line.startswith("| Stream")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    # `name` is a property of the CDK's Stream: classes that do not set it are named by the CDK.
    declared = {(_stream_name(s), _keys(s), _editions(s.editions)) for s in ALL_STREAMS}
    assert declared == rows
    assert len(declared) == 29


def _keys(stream: type[Any]) -> str:
    nesting = getattr(stream, "nesting", None)
    keys = nesting.key if nesting else (stream.primary_key,)
    return ", ".join(f"`{key}`" for key in keys)


def _stream_name(stream: type[Any]) -> str:
    name = vars(stream).get("name")
    if isinstance(name, str):
        return name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", stream.__name__).lower()  # the CDK's snake case


# Each fragment is in the code (so the docs quote a message the connector prints) and in the
# Troubleshooting section (so every message is explained). A reworded message fails here.
MESSAGES = [
    (config_module, "is missing: enter"),
    (config_module, "must be a date written YYYY-MM-DD, not"),
    (config_module, "lies before start_date"),
    (config_module, "must be a whole number"),
    (config_module, "must be a full https:// URL such as"),
    (config_module, "uses plain http, which would send your API key unencrypted"),
    (config_module, "edition must be one of"),
    (errors, "is not usable:"),
    (errors, "Could not reach FastBill"),
    (errors, "Check api_url and the network, then retry."),
    (errors, "FastBill rejected the credentials"),
    (errors, "Check the e-mail address (username) and the API key (FastBill: Settings > Account"),
    (errors, ": a deploy in progress, or a wrong api_url."),
    (errors, "not with FastBill's answer; probably a maintenance page or a proxy"),
    (errors, "does not offer"),
    (errors, "choose the edition your account belongs to"),
    (errors, "If the account's plan does not include it, deselect the stream"),
    (errors, "FastBill rejected {endpoint.service}: {text}"),
    (errors, "for this account ("),
    (errors, "while the credentials work for other calls: "),
    (quota, "German time"),
    (quota, "FastBill refused a call ("),
    (quota, "which the connector takes for the hourly quota"),
    (quota, "Suggested requests_per_hour: "),
    (quota, "still waiting, "),
    (quota, "pacing under the configured limit of "),
    (progress, "Sync summary, "),
    (progress, " API calls so far."),
    (paging, "seems to ignore OFFSET"),
    (paging, "entries that are not records ("),
    (paging, "records without "),
    (paging, "records repeated a "),
    (incremental, "Ignoring the saved state's resume marker "),
    (
        state_file,
        "Pass what the connector printed: its STATE lines (one, a JSON list of them, or the",
    ),
    (transport, "did not complete its answer within "),
    (catalog_module, "edition does not have. Its streams are: "),
    (catalog_module, "more than once: it is read once, as first listed"),
    (config_module, "lies outside the dates this connector reads"),
    (config_module, "must not hold a user name or password (user@host)"),
    (errors, "The connector follows no redirect, so your credentials are never sent to another"),
    (errors, "the api_url must end in"),
    (incremental, "in Airbyte (or remove its state) to read it again from start_date."),
    (clock, "disagree by more than a few minutes: the saved position follows the earlier one"),
    (run_module, "no further FastBill calls were made. The summary above says which streams"),
    (transport, "(gave up after repeated attempts)"),
    (pipeline, "on this account: reading"),
    (incremental, "it is not a state this connector wrote. Reading from start_date instead."),
    (changes, "was expected; emitted as null."),
]


@pytest.mark.parametrize(("module", "fragment"), MESSAGES, ids=[m[1][:40] for m in MESSAGES])
def test_troubleshooting_explains_each_message(module: Any, fragment: str) -> None:
    code = " ".join(re.sub(r'"\s*\n\s*f?"', "", inspect.getsource(module)).split())
    assert fragment in code, f"{module.__name__} no longer prints {fragment!r}"
    quoted = fragment.replace("{endpoint.service}", "<service>").replace("{text}", "...")
    assert quoted in _docs_section("Limitations & Troubleshooting"), fragment


def test_the_platform_heartbeat_allows_the_longest_silence_of_the_connector() -> None:
    import yaml

    from source_fastbill.config import MAX_REQUEST_TIMEOUT_SECONDS
    from source_fastbill.errors import retry_wait
    from source_fastbill.quota import HEARTBEAT_SECONDS

    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
    longest_request = MAX_REQUEST_TIMEOUT_SECONDS + retry_wait(99)
    longest_silence = max(longest_request, HEARTBEAT_SECONDS)
    assert metadata["maxSecondsBetweenMessages"] >= 2 * longest_silence


def _printed_texts() -> str:
    """Every string the connector's modules can print: literals, and f-strings' literal parts."""
    texts: list[str] = []
    for path in sorted((ROOT / "source_fastbill").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                parts = [v.value if isinstance(v, ast.Constant) else " | " for v in node.values]
                texts.append("".join(str(part) for part in parts))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                texts.append(node.value)
    return " | ".join(" ".join(text.split()) for text in texts)


def _table_messages() -> list[str]:
    table = _docs_section("Limitations & Troubleshooting").split("### Troubleshooting", 1)[1]
    cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    return [text for cell in cells for text in re.findall(r"`([^`]+)`", cell)]


def test_every_message_in_the_troubleshooting_table_is_one_the_connector_prints() -> None:
    pieces = re.split(r" \| |[;:,()'\"]", _printed_texts())
    fragments = {piece.strip(" .") for piece in pieces if len(piece.strip(" .")) >= 8}
    placeholder = r"\.\.\.|…|<[^>]+>|\bN\b|\bM\b"
    stale = []
    for message in _table_messages():
        text = re.sub(placeholder, " ", message)
        covered = [False] * len(text)
        for fragment in fragments:  # values fill the f-strings' fields: cover what is literal
            for match in re.finditer(re.escape(fragment), text):
                covered[match.start() : match.end()] = [True] * len(fragment)
        letters = [c for c, char in zip(covered, text, strict=True) if char.isalnum()]
        if letters and sum(letters) < 0.4 * len(letters):  # a stale message: nearly none
            stale.append(message)
    assert not stale, stale
    assert len(_table_messages()) >= 25

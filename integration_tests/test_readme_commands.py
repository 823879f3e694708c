"""The README's "Run it yourself" commands work as written, and the quick start stays two commands.

The ```bash block of that section runs with `bash -euo pipefail` from the repository root, with
one change: `secrets/` becomes a temporary folder, so a test run never writes into (or deletes
from) the user's secrets/. The sandbox it starts picks a free port (the config file it writes
carries the URL); whatever the block leaves running is killed with its process group.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TIMEOUT_SECONDS = 120


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _bash_block(title: str) -> str:
    blocks = re.findall(r"^```bash\n(.*?)^```$", _section(title), re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, f"'## {title}' should hold exactly one ```bash block: {blocks}"
    return str(blocks[0])


def _commands(block: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in block.splitlines())
    return [line for line in lines if line]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a recycled group id of another user's processes
        return False
    return True


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(pgid):
            return
        os.killpg(pgid, sig)
        deadline = time.monotonic() + 5
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


def test_quick_start_keeps_its_two_commands() -> None:
    assert _commands(_bash_block("Quick start")) == ["make demo", "make test"]
    headers = re.findall(r"^## (.+)$", README.read_text(), re.MULTILINE)
    assert headers[headers.index("Quick start") + 1] == "Run it yourself"


def test_run_it_yourself_covers_every_command() -> None:
    block = _bash_block("Run it yourself")
    for fragment in (
        "-m fastbill_sandbox",
        "--write-config secrets/sandbox.json",
        "main.py spec",
        "main.py check    --config secrets/sandbox.json",
        "main.py discover --config secrets/sandbox.json",
        "main.py read     --config secrets/sandbox.json "
        "--catalog integration_tests/configured_catalog.json",
        "kill ",
    ):
        assert fragment in block, fragment
    assert "--port" not in block  # the sandbox picks a free port; the config file carries it
    assert "secrets/config.json" in _section("Run it yourself")  # where a real account goes


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "python").exists(), reason="run make install")
def test_run_it_yourself_runs_as_written(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    script = _bash_block("Run it yourself").replace("secrets/", f"{secrets}/")
    assert "secrets/sandbox.json" not in script.replace(str(secrets), "")
    # Output into files, not pipes: a sandbox left running by a failed command would hold a
    # pipe open, and the test would wait for it instead of reporting the failure.
    stdout_path, stderr_path = tmp_path / "stdout", tmp_path / "stderr"
    with stdout_path.open("w") as stdout_file, stderr_path.open("w") as stderr_file:
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            stdout=stdout_file,
            stderr=stderr_file,
            text=True,
            start_new_session=True,  # its own process group: the background sandbox included
        )
    try:
        process.wait(timeout=TIMEOUT_SECONDS)
        # The block stops its own sandbox, which then removes the config file it wrote.
        deadline = time.monotonic() + 10
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        sandbox_stopped = not _group_alive(process.pid)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        process.wait()
        pytest.fail(
            f"the README block ran over {TIMEOUT_SECONDS} s:\n"
            f"{stdout_path.read_text()[-2000:]}\n{stderr_path.read_text()[-2000:]}"
        )
    finally:
        _kill_group(process.pid)
    stdout, stderr = stdout_path.read_text(), stderr_path.read_text()[-3000:]
    assert process.returncode == 0, f"exit {process.returncode}\n{stdout[-3000:]}\n{stderr}"
    messages = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    types = [message["type"] for message in messages]
    assert "SPEC" in types and "CATALOG" in types
    statuses = [
        m["connectionStatus"]["status"] for m in messages if m["type"] == "CONNECTION_STATUS"
    ]
    assert statuses == ["SUCCEEDED"]
    records = [m["record"]["stream"] for m in messages if m["type"] == "RECORD"]
    assert len(records) > 50 and {"customers", "invoices"} <= set(records)
    assert sandbox_stopped, "the block left its sandbox running"
    assert list(secrets.iterdir()) == []  # the sandbox removed its config when it stopped


def test_write_config_writes_a_connector_config_and_removes_it_on_exit(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "sandbox.json"
    command = [sys.executable, "-m", "fastbill_sandbox", "--size", "0.1",
               "--write-config", str(target)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        announcement = json.loads(process.stdout.readline())  # printed after the file is written
        config = json.loads(target.read_text())
        assert config == {
            "username": announcement["username"],
            "api_key": announcement["api_key"],
            "edition": "pro",
            "api_url": announcement["url"],
        }
        check = subprocess.run(
            [sys.executable, "main.py", "check", "--config", str(target)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert '"status":"SUCCEEDED"' in check.stdout, check.stdout + check.stderr
        process.terminate()
        assert process.wait(timeout=10) == 0
        assert not target.exists()
        assert list(target.parent.iterdir()) == []  # no temporary file left behind
    finally:
        if process.poll() is None:
            process.kill()

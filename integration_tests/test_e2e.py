"""End-to-end tests (GitHub issue 3): `python main.py` as Airbyte runs it, against the sandbox.

Every test starts the connector as a separate process and reads its Airbyte messages from stdout;
the sandbox counts the API calls it received. Shared helpers live in conftest.py.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker

from fastbill_sandbox import FastbillSandbox
from fastbill_sandbox.data import STREAM_SERVICES, is_zero_date, stream_counts
from fastbill_sandbox.runner import ConnectorRun, run_concurrently, run_connector
from integration_tests.conftest import closed_port_url, configured_catalog, connector_config

pytestmark = pytest.mark.e2e

PRO_STREAMS = [
    "customers", "contacts", "invoices", "recurring_invoices", "revenues", "expenses",
    "products", "projects", "time_entries", "estimates", "templates", "documents",
    "document_folders", "webhooks",
]  # fmt: skip
AUTOMATIC_STREAMS = ["customers", "invoices", "products", "templates", "subscriptions", "coupons"]
STREAMS = {"pro": PRO_STREAMS, "automatic": AUTOMATIC_STREAMS}
# child stream: (parent stream, the parent's list field)
PRO_CHILDREN = {
    "invoice_items": ("invoices", "ITEMS"),
    "invoice_payments": ("invoices", "PAYMENTS"),
    "invoice_vat_items": ("invoices", "VAT_ITEMS"),
    "recurring_invoice_items": ("recurring_invoices", "ITEMS"),
    "revenue_items": ("revenues", "ITEMS"),
    "expense_items": ("expenses", "ITEMS"),
    "estimate_items": ("estimates", "ITEMS"),
    "project_tasks": ("projects", "TASKS"),
}
AUTOMATIC_CHILDREN = {
    "invoice_items": ("invoices", "ITEMS"),
    "invoice_vat_items": ("invoices", "VAT_ITEMS"),
    "subscription_addons": ("subscriptions", "ADDONS"),
}
CHILDREN = {"pro": PRO_CHILDREN, "automatic": AUTOMATIC_CHILDREN}
PAGE = 100  # FastBill's largest page
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
WRONG_API_KEY = "wrong-api-key-fedcba9876543210"  # long: the CDK masks secrets by substring


def _naive_timestamp(value: object) -> bool:
    """The schemas declare date-time as airbyte_type timestamp_without_timezone."""
    if not isinstance(value, str):
        return True
    if not TIMESTAMP.fullmatch(value):
        return False
    datetime.fromisoformat(value)  # rejects impossible dates such as 2024-02-30
    return True


# jsonschema checks "date" out of the box; "date-time" only with an optional package, so the
# Airbyte form of a timestamp without timezone is checked here.
FORMAT_CHECKER = FormatChecker()
FORMAT_CHECKER.checks("date-time", raises=ValueError)(_naive_timestamp)


def minimum_calls(sandbox: FastbillSandbox, streams: list[str]) -> dict[str, int]:
    """API calls per service of a perfect sync: full pages, then one short page."""
    counts = sandbox.counts()
    return {STREAM_SERVICES[s]: counts[STREAM_SERVICES[s]] // PAGE + 1 for s in streams}


def expected_counts(sandbox: FastbillSandbox, streams: list[str]) -> dict[str, int]:
    return stream_counts(sandbox.counts(), streams)


def raw_records(sandbox: FastbillSandbox, service: str) -> dict[str, dict[str, Any]]:
    """What the sandbox serves for a service, keyed by the text of the primary key."""
    table = sandbox.dataset.table(service)
    return {str(table.record(i)[table.pk]): table.record(i) for i in range(table.count)}


def duplicate_keys(
    run: ConnectorRun, streams: list[str], key_of: Callable[[str], str]
) -> dict[str, list[Any]]:
    """Per stream, the primary keys that arrived more than once (or were missing)."""
    found: dict[str, list[Any]] = {}
    for stream in streams:
        seen = Counter(record.get(key_of(stream)) for record in run.records(stream))
        twice = [key for key, times in seen.items() if times > 1 or key is None]
        if twice:
            found[stream] = twice
    return found


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# One discover and one full-refresh read per edition, shared by the read-only tests


@dataclass
class FullSync:
    edition: str
    sandbox: FastbillSandbox
    discover: ConnectorRun
    discover_calls: int
    read: ConnectorRun
    read_stats: dict[str, Any]
    catalog: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.catalog = self.discover.catalog()

    def stream(self, name: str) -> dict[str, Any]:
        (found,) = [s for s in self.catalog["streams"] if s["name"] == name]
        return dict(found)

    def primary_key(self, name: str) -> str:
        ((key,),) = self.stream(name)["source_defined_primary_key"]
        return str(key)


class Syncs:
    """Runs discover + read for an edition the first time a test asks for it."""

    def __init__(self, sandboxes: dict[str, FastbillSandbox], workdir: Path) -> None:
        self._sandboxes, self._workdir = sandboxes, workdir
        self._done: dict[str, FullSync] = {}

    def get(self, edition: str) -> FullSync:
        if edition not in self._done:
            self._done[edition] = self._sync(edition)
        return self._done[edition]

    def _sync(self, edition: str) -> FullSync:
        sandbox = self._sandboxes[edition]
        config = connector_config(sandbox)
        sandbox.reset_stats()
        discover = run_connector("discover", self._workdir, config)
        discover_calls = sandbox.stats()["calls"]
        catalog = configured_catalog(discover.catalog(), STREAMS[edition])
        sandbox.reset_stats()
        read = run_connector("read", self._workdir, config, catalog)
        stats = sandbox.stats()
        return FullSync(edition, sandbox, discover, discover_calls, read, stats)


@pytest.fixture(scope="module")
def sandboxes(
    pro_sandbox: FastbillSandbox, automatic_sandbox: FastbillSandbox
) -> dict[str, FastbillSandbox]:
    return {"pro": pro_sandbox, "automatic": automatic_sandbox}


@pytest.fixture(scope="module")
def syncs(sandboxes: dict[str, FastbillSandbox], tmp_path_factory: pytest.TempPathFactory) -> Syncs:
    return Syncs(sandboxes, tmp_path_factory.mktemp("full-sync"))


@pytest.fixture(scope="module", params=["pro", "automatic"])
def full_sync(request: pytest.FixtureRequest, syncs: Syncs) -> FullSync:
    return syncs.get(request.param)


# ---------------------------------------------------------------------------------------------
# 1. Full refresh of every stream of both editions


@pytest.mark.parametrize("edition", ["pro", "automatic"])
def test_child_streams_are_the_unfolded_lists_at_the_calls_of_their_parents(
    edition: str, syncs: Syncs, tmp_path: Path
) -> None:
    sync = syncs.get(edition)
    everything = [*STREAMS[edition], *CHILDREN[edition]]
    sync.sandbox.reset_stats()

    run = run_connector(
        "read",
        tmp_path,
        connector_config(sync.sandbox),
        configured_catalog(sync.catalog, everything),
    )

    assert run.exit_code == 0, run.stderr[-2000:]
    assert sync.sandbox.stats()["by_service"] == minimum_calls(sync.sandbox, STREAMS[edition])
    parents = {name: run.records(name) for name in STREAMS[edition]}
    for child, (parent, nested) in CHILDREN[edition].items():
        rows = run.records(child)
        assert len(rows) == sum(len(p.get(nested) or []) for p in parents[parent]), child
        keys = [tuple(row[k] for k in _key_of(sync.catalog, child)) for row in rows]
        assert len(set(keys)) == len(keys), child
        assert rows, f"the sandbox has {child}"


def _key_of(catalog: dict[str, Any], stream: str) -> list[str]:
    (found,) = [s for s in catalog["streams"] if s["name"] == stream]
    return [part for (part,) in found["source_defined_primary_key"]]


def test_discover_lists_the_editions_streams_without_calling_the_api(full_sync: FullSync) -> None:
    names = [stream["name"] for stream in full_sync.catalog["streams"]]

    assert full_sync.discover.exit_code == 0
    parents = STREAMS[full_sync.edition]
    assert sorted(set(names) - set(CHILDREN[full_sync.edition])) == sorted(parents)
    assert sorted(set(names) - set(parents)) == sorted(CHILDREN[full_sync.edition])
    assert full_sync.discover_calls == 0


def test_full_refresh_reads_every_record_exactly_once(full_sync: FullSync) -> None:
    streams = STREAMS[full_sync.edition]
    run = full_sync.read

    assert run.exit_code == 0, run.stderr[-2000:]
    assert run.noise == []
    assert run.record_counts() == expected_counts(full_sync.sandbox, streams)
    assert duplicate_keys(run, streams, full_sync.primary_key) == {}


def test_every_record_is_valid_against_its_discovered_schema(full_sync: FullSync) -> None:
    problems: list[str] = []
    for name in STREAMS[full_sync.edition]:
        schema = full_sync.stream(name)["json_schema"]
        validator = Draft7Validator(schema, format_checker=FORMAT_CHECKER)
        key = full_sync.primary_key(name)
        for record in full_sync.read.records(name):
            problems += [
                f"{name} {record.get(key)} {error.json_path}: {error.message}"
                for error in validator.iter_errors(record)
            ]

    assert full_sync.read.records(), "no records were read"
    assert problems[:20] == []


def test_full_refresh_ends_each_stream_with_state_and_complete_status(
    full_sync: FullSync,
) -> None:
    streams = STREAMS[full_sync.edition]
    run = full_sync.read

    assert run.exit_code == 0
    assert run.errors() == []
    assert sorted(run.final_states()) == sorted(streams)
    assert run.last_message_kind_per_stream() == dict.fromkeys(streams, "STATE")
    assert run.stream_statuses() == {s: ["STARTED", "RUNNING", "COMPLETE"] for s in streams}


# ---------------------------------------------------------------------------------------------
# 2. The fewest API calls


def test_full_refresh_makes_the_minimum_number_of_calls(full_sync: FullSync) -> None:
    expected = minimum_calls(full_sync.sandbox, STREAMS[full_sync.edition])
    stats = full_sync.read_stats

    assert stats["by_service"] == expected
    assert stats["calls"] == stats["served"] == sum(expected.values())


@pytest.mark.parametrize("edition", ["pro", "automatic"])
def test_check_succeeds_with_exactly_one_call(
    edition: str, sandboxes: dict[str, FastbillSandbox], tmp_path: Path
) -> None:
    sandbox = sandboxes[edition]
    sandbox.reset_stats()

    run = run_connector("check", tmp_path, connector_config(sandbox))

    assert run.exit_code == 0
    assert run.connection_status() == {"status": "SUCCEEDED"}
    # A service only this edition offers: the one call proves the edition too.
    probe = {"pro": "revenue.get", "automatic": "subscription.get"}[edition]
    assert sandbox.stats()["by_service"] == {probe: 1}
    assert sandbox.stats()["calls"] == 1


def test_spec_needs_no_config_and_makes_no_call(
    pro_sandbox: FastbillSandbox, tmp_path: Path
) -> None:
    pro_sandbox.reset_stats()

    run = run_connector("spec", tmp_path)

    properties = run.spec()["connectionSpecification"]["properties"]
    assert run.exit_code == 0
    assert sorted(properties) == sorted(
        ["username", "api_key", "edition", "api_url", "start_date", "end_date",
         "lookback_days", "requests_per_minute", "requests_per_hour", "request_timeout_seconds",
         "num_workers"]
    )  # fmt: skip
    assert pro_sandbox.stats()["calls"] == 0


# ---------------------------------------------------------------------------------------------
# Typed values (spot checks against what the sandbox served)


def test_pro_invoices_arrive_typed(syncs: Syncs) -> None:
    sync = syncs.get("pro")
    raw = raw_records(sync.sandbox, "invoice.get")
    invoices = sync.read.records("invoices")
    unpaid = [i for i in invoices if is_zero_date(raw[i["INVOICE_ID"]]["PAID_DATE"])]

    assert len(unpaid) > 0
    assert all(invoice.get("PAID_DATE") is None for invoice in unpaid)
    for invoice in invoices:
        source = raw[invoice["INVOICE_ID"]]
        assert all(is_number(invoice[k]) for k in ("SUB_TOTAL", "VAT_TOTAL", "TOTAL"))
        assert invoice["CASH_DISCOUNT_PERCENT"] == float(source["CASH_DISCOUNT_PERCENT"])
        assert invoice["DAYS_FOR_PAYMENT"] == int(source["DAYS_FOR_PAYMENT"])
        assert invoice["IS_CANCELED"] is (source["IS_CANCELED"] == "1")
        assert DATE.fullmatch(invoice["INVOICE_DATE"])
        assert invoice["DUE_DATE"] == source["DUE_DATE"][:10]
        assert TIMESTAMP.fullmatch(invoice["LASTUPDATE"])
        assert all(isinstance(invoice[k], list) for k in ("ITEMS", "VAT_ITEMS", "PAYMENTS"))
        assert len(invoice["ITEMS"]) == len(source["ITEMS"])
        assert all(is_number(item["QUANTITY"]) for item in invoice["ITEMS"])


def test_pro_ids_sent_as_numbers_arrive_as_strings(syncs: Syncs) -> None:
    sync = syncs.get("pro")
    raw = raw_records(sync.sandbox, "invoice.get")
    numeric = [key for key, record in raw.items() if isinstance(record["INVOICE_ID"], int)]
    emitted = {invoice["INVOICE_ID"] for invoice in sync.read.records("invoices")}

    assert len(numeric) > 0
    assert set(numeric) <= emitted


def test_pro_umlauts_and_flags_of_customers_arrive_intact(syncs: Syncs) -> None:
    sync = syncs.get("pro")
    raw = raw_records(sync.sandbox, "customer.get")
    customers = sync.read.records("customers")
    non_ascii = [c for c in customers if not raw[c["CUSTOMER_ID"]]["CITY"].isascii()]

    assert len(non_ascii) > 0
    assert [c["CITY"] for c in non_ascii] == [raw[c["CUSTOMER_ID"]]["CITY"] for c in non_ascii]
    assert any("ü" in c["CITY"] for c in non_ascii)
    assert {type(c["TOP"]) for c in customers} == {bool}
    assert sum(c["TOP"] for c in customers) == sum(r["TOP"] == "1" for r in raw.values())
    assert all(TIMESTAMP.fullmatch(c["CREATED"]) for c in customers)


def test_pro_deleted_customers_arrive_marked_for_deduped_destinations(syncs: Syncs) -> None:
    sync = syncs.get("pro")
    raw = raw_records(sync.sandbox, "customer.get")
    customers = sync.read.records("customers")
    deleted = [c for c in customers if not is_zero_date(raw[c["CUSTOMER_ID"]]["DELETED_DATE"])]

    assert len(deleted) > 0, "the sandbox lists deleted customers"
    for customer in deleted:
        when = raw[customer["CUSTOMER_ID"]]["DELETED_DATE"]
        assert customer["_ab_cdc_deleted_at"] == when.replace(" ", "T")
        assert customer["_ab_cdc_deleted_at"] == customer["DELETED_DATE"]
    # The others carry null, which the CDK's serializer leaves out as it does every top-level null
    assert all(c.get("_ab_cdc_deleted_at") is None for c in customers if c not in deleted)
    schema = sync.stream("customers")["json_schema"]["properties"]["_ab_cdc_deleted_at"]
    assert schema["format"] == "date-time"


def test_pro_fields_of_2024_to_2026_arrive_typed(syncs: Syncs) -> None:
    sync = syncs.get("pro")
    raw = raw_records(sync.sandbox, "customer.get")
    with_gln = [c for c in sync.read.records("customers") if c.get("GLN")]
    products = sync.read.records("products")
    estimates = sync.read.records("estimates")
    hashes = {t["TEMPLATE_ID"]: t["TEMPLATE_HASH"] for t in sync.read.records("templates")}

    assert with_gln and all(c["GLN"] == raw[c["CUSTOMER_ID"]]["GLN"] for c in with_gln)
    assert all(isinstance(c["GLN"], str) and len(c["GLN"]) == 13 for c in with_gln)
    assert {p["TYPE"] for p in products} == {"product", "service"}
    assert all(e["TEMPLATE_HASH"] == hashes[e["TEMPLATE_ID"]] for e in estimates)
    items = [item for e in estimates for item in e["ITEMS"]]
    assert items and all(i["ESTIMATE_ITEM_ID"] == i["INVOICE_ITEM_ID"] for i in items)
    invoices = sync.read.records("invoices")
    assert all(i.get("START_DATE") is None and i.get("VAT_CASE") is None for i in invoices)


def test_pro_time_entries_arrive_typed_with_zero_times_as_null(syncs: Syncs) -> None:
    sync = syncs.get("pro")
    raw = raw_records(sync.sandbox, "time.get")
    entries = sync.read.records("time_entries")
    zero_start = [e for e in entries if is_zero_date(raw[e["TIME_ID"]]["START_TIME"])]

    assert len(entries) == 300
    assert len(zero_start) > 0
    assert all(e.get("START_TIME") is None for e in zero_start)
    for entry in entries:
        source = raw[entry["TIME_ID"]]
        assert entry["MINUTES"] == int(source["MINUTES"])
        assert entry["DATE"] == source["DATE"][:10]
        assert isinstance(entry["BILLED"], bool)
    started = [e for e in entries if e not in zero_start]
    assert all(
        e["START_TIME"] == raw[e["TIME_ID"]]["START_TIME"].replace(" ", "T") for e in started
    )


def test_pro_project_tasks_arrive_as_arrays(syncs: Syncs) -> None:
    sync = syncs.get("pro")
    raw = raw_records(sync.sandbox, "project.get")
    projects = sync.read.records("projects")
    keyed = [p for p in projects if isinstance(raw[p["PROJECT_ID"]]["TASKS"], dict)]

    assert len(keyed) > 0
    assert all(isinstance(p["TASKS"], list) for p in projects)
    for project in keyed:
        tasks = raw[project["PROJECT_ID"]]["TASKS"]
        assert [t["TASK_ID"] for t in project["TASKS"]] == [t["TASK_ID"] for t in tasks.values()]
    assert all(is_number(p["HOUR_PRICE"]) for p in projects)


def test_automatic_subscriptions_arrive_typed(syncs: Syncs) -> None:
    sync = syncs.get("automatic")
    raw = raw_records(sync.sandbox, "subscription.get")
    subscriptions = sync.read.records("subscriptions")
    running = [
        s for s in subscriptions if is_zero_date(raw[s["SUBSCRIPTION_ID"]]["CANCELLATION_DATE"])
    ]

    assert len(running) > 0
    assert all(s.get("CANCELLATION_DATE") is None for s in running)
    assert all(isinstance(s["ADDONS"], list) for s in subscriptions)
    assert all(isinstance(s["PLAN"], dict) for s in subscriptions)
    assert all(is_number(s["QUANTITY"]) for s in subscriptions)
    assert all(TIMESTAMP.fullmatch(s["START"]) for s in subscriptions)


def test_automatic_coupons_keep_text_and_dates(syncs: Syncs) -> None:
    sync = syncs.get("automatic")
    raw = raw_records(sync.sandbox, "coupon.get")
    coupons = sync.read.records("coupons")

    assert [c["DISCOUNT"] for c in coupons] == [raw[c["CODE"]]["DISCOUNT"] for c in coupons]
    assert all(DATE.fullmatch(c["VALID_FROM"]) for c in coupons)


# ---------------------------------------------------------------------------------------------
# A second full refresh across processes, from the state the first one saved


def test_second_full_refresh_with_saved_state_reads_everything_again(
    syncs: Syncs, tmp_path: Path
) -> None:
    first = syncs.get("pro")
    sandbox = first.sandbox
    saved = list(first.read.final_states().values())
    sandbox.reset_stats()

    second = run_connector(
        "read",
        tmp_path,
        connector_config(sandbox),
        configured_catalog(first.catalog, PRO_STREAMS),
        saved,
    )

    assert len(saved) == len(PRO_STREAMS)
    assert second.exit_code == 0
    assert second.record_counts() == expected_counts(sandbox, PRO_STREAMS)
    assert sandbox.stats()["by_service"] == minimum_calls(sandbox, PRO_STREAMS)


# ---------------------------------------------------------------------------------------------
# 3. Failures the user has to fix, and failures that pass


def assert_user_message(message: str) -> None:
    """A message shown in the Airbyte UI: plain text, no Python internals."""
    assert "Traceback" not in message
    assert "Exception" not in message
    assert not message.startswith(("'", '"'))


def assert_names_credentials(message: str) -> None:
    assert "e-mail" in message
    assert "API key" in message


@pytest.mark.parametrize("auth_failure", ["errors200", "http401"])
def test_check_with_bad_credentials_fails_after_one_call(
    auth_failure: str, private_sandbox: Callable[..., FastbillSandbox], tmp_path: Path
) -> None:
    sandbox = private_sandbox("pro", rate_limit=None, auth_failure=auth_failure)

    run = run_connector("check", tmp_path, connector_config(sandbox, api_key=WRONG_API_KEY))

    status = run.connection_status()
    assert run.exit_code == 0
    assert status["status"] == "FAILED"
    assert_names_credentials(status["message"])
    assert_user_message(status["message"])
    assert WRONG_API_KEY not in run.stdout_text()
    assert sandbox.stats()["calls"] == sandbox.stats()["auth_failures"] == 1


@pytest.mark.parametrize("auth_failure", ["errors200", "http401"])
def test_read_with_bad_credentials_is_a_config_error_without_records(
    auth_failure: str,
    private_sandbox: Callable[..., FastbillSandbox],
    syncs: Syncs,
    tmp_path: Path,
) -> None:
    sandbox = private_sandbox("pro", rate_limit=None, auth_failure=auth_failure)
    catalog = configured_catalog(syncs.get("pro").catalog, ["customers"])

    run = run_connector("read", tmp_path, connector_config(sandbox, api_key=WRONG_API_KEY), catalog)

    assert run.exit_code != 0
    assert run.records() == []
    assert run.failure_types() == ["config_error"]  # one error trace per failure
    assert_names_credentials(run.errors()[0]["message"])
    assert_user_message(run.errors()[0]["message"])
    assert WRONG_API_KEY not in run.stdout_text()
    assert sandbox.stats()["calls"] == 1  # a rejected key is not retried


# Each malformed setting, and what a clear message must contain (all patterns must match).
MALFORMED: dict[str, tuple[dict[str, Any], list[str]]] = {
    "missing_api_key": ({"api_key": None}, [r"\bapi_key\b", r"required|missing"]),
    "plain_http_elsewhere": (
        {"api_url": "http://fastbill.invalid/api/1.0/api.php"},
        [r"\bapi_url\b", r"http://fastbill\.invalid", r"https://"],
    ),
    "bad_start_date": ({"start_date": "2024-13-01"}, [r"\bstart_date\b", r"2024-13-01"]),
    "unknown_edition": ({"edition": "enterprise"}, [r"\bedition\b", r"enterprise"]),
    "zero_requests_per_minute": (
        {"requests_per_minute": 0},
        [r"\brequests_per_minute\b", r"\b1\b"],
    ),
}
COMMANDS = ["check", "discover", "read"]


@dataclass(frozen=True)
class FailingRuns:
    unreachable_url: str
    runs: dict[str, ConnectorRun]
    malformed_calls: int  # API calls the malformed configs made to the Pro sandbox


@pytest.fixture(scope="module")
def failing(
    pro_sandbox: FastbillSandbox, syncs: Syncs, tmp_path_factory: pytest.TempPathFactory
) -> FailingRuns:
    """Every run that is meant to fail, side by side: they mostly wait (retries) or start up.

    A closed loopback port for check and a one-stream read, then each malformed config through
    check, discover and read (pointed at the Pro sandbox, which must see no call).
    """
    workdir = tmp_path_factory.mktemp("failing")
    url = closed_port_url()
    unreachable = {"username": "buchhaltung@example.de", "api_key": WRONG_API_KEY, "api_url": url}
    catalog = configured_catalog(syncs.get("pro").catalog, ["templates"])
    jobs = {
        "unreachable/check": partial(run_connector, "check", workdir, unreachable),
    }
    for case, (overrides, _) in MALFORMED.items():
        config = connector_config(pro_sandbox, **overrides)
        for command in COMMANDS:
            chosen = catalog if command == "read" else None
            jobs[f"{case}/{command}"] = partial(run_connector, command, workdir, config, chosen)
    pro_sandbox.reset_stats()
    runs = run_concurrently(jobs, workers=4)
    return FailingRuns(url, runs, pro_sandbox.stats()["calls"])


def test_check_against_unreachable_host_fails_clearly_within_30_seconds(
    failing: FailingRuns,
) -> None:
    run = failing.runs["unreachable/check"]

    status = run.connection_status()
    assert run.exit_code == 0
    assert status["status"] == "FAILED"
    assert f"Could not reach FastBill at {failing.unreachable_url}" in status["message"]
    assert "Check api_url" in status["message"]
    assert "Traceback" not in status["message"]
    # Its waits, as it announced them: one retry of two seconds (the deadline bounds a silent
    # server, test_faults.py); the whole check stays well within 30 s.
    retries = [log for log in run.logs() if "Retrying in" in log]
    assert len(retries) == 1 and retries[0].endswith("Retrying in 2 s, attempt 2.")


@pytest.mark.parametrize(
    ("sandbox_edition", "connector_edition", "stream", "unknown_service_status"),
    [
        ("pro", "automatic", "subscriptions", 200),
        ("automatic", "pro", "expenses", 400),
    ],
)
def test_read_of_a_stream_the_account_edition_lacks_is_a_config_error(
    sandbox_edition: str,
    connector_edition: str,
    stream: str,
    unknown_service_status: int,
    private_sandbox: Callable[..., FastbillSandbox],
    syncs: Syncs,
    tmp_path: Path,
) -> None:
    sandbox = private_sandbox(
        sandbox_edition, rate_limit=None, unknown_service_status=unknown_service_status
    )
    catalog = configured_catalog(syncs.get(connector_edition).catalog, [stream])
    config = connector_config(sandbox, edition=connector_edition)

    run = run_connector("read", tmp_path, config, catalog)

    message = run.errors()[0]["message"]
    assert run.exit_code != 0
    assert run.records() == []
    assert run.failure_types() == ["config_error"]  # one error trace per failure
    assert f"does not offer {STREAM_SERVICES[stream]}" in message
    assert f"set to the '{connector_edition}' edition" in message
    assert sandbox.stats()["calls"] == 1


def failure_message(run: ConnectorRun) -> str:
    if run.command == "check":
        status = run.connection_status()
        assert status["status"] == "FAILED"
        return str(status["message"])
    assert run.failure_types() == ["config_error"]
    return str(run.errors()[0]["message"])


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_config_fails_with_a_clear_message(
    case: str, command: str, failing: FailingRuns
) -> None:
    run = failing.runs[f"{case}/{command}"]

    message = failure_message(run)
    assert (run.exit_code == 0) is (command == "check")
    assert run.of_type("CATALOG") == run.of_type("RECORD") == []
    missing = [p for p in MALFORMED[case][1] if not re.search(p, message)]
    assert missing == [], f"message {message!r} lacks {missing}"
    assert_user_message(message)


def test_malformed_configs_never_reach_the_api(failing: FailingRuns) -> None:
    assert len(failing.runs) == 1 + len(MALFORMED) * len(COMMANDS)
    assert failing.malformed_calls == 0


# ---------------------------------------------------------------------------------------------
# 4. Injected faults: every record once, exit 0


def test_read_under_injected_faults_delivers_every_record_once(
    private_sandbox: Callable[..., FastbillSandbox], syncs: Syncs, tmp_path: Path
) -> None:
    # Seed 1 breaks 6 of 26 calls: 5xx and 429 twice, a dropped connection and an HTML page.
    sandbox = private_sandbox("pro", rate_limit=None, fault_rate=0.15, fault_seed=1)
    catalog = configured_catalog(syncs.get("pro").catalog, PRO_STREAMS)

    run = run_connector("read", tmp_path, connector_config(sandbox), catalog)

    stats = sandbox.stats()
    assert run.exit_code == 0, run.stderr[-2000:]
    assert run.record_counts() == expected_counts(sandbox, PRO_STREAMS)
    assert duplicate_keys(run, PRO_STREAMS, syncs.get("pro").primary_key) == {}
    assert all(count > 0 for count in stats["faults"].values()), stats["faults"]
    assert stats["by_service"] == minimum_calls(sandbox, PRO_STREAMS)  # each page served once


# ---------------------------------------------------------------------------------------------
# 5. Pacing under the server's limits


@pytest.mark.soak
def test_read_paced_to_the_per_minute_limit_is_never_rejected(
    private_sandbox: Callable[..., FastbillSandbox], syncs: Syncs, tmp_path: Path
) -> None:
    # The connector's budget is per minute, so any test of it waits out one 60-second window:
    # 15 calls at once, the remaining 7 of the 22 a full Pro sync needs one window later.
    limit, window = 15, 60.0
    sandbox = private_sandbox("pro", rate_limit=limit, rate_window_seconds=window)
    config = connector_config(sandbox, requests_per_minute=limit)

    run = run_connector(
        "read", tmp_path, config, configured_catalog(syncs.get("pro").catalog, PRO_STREAMS)
    )

    stats = sandbox.stats()
    elapsed = stats["last_call_ts"] - stats["first_call_ts"]
    assert run.exit_code == 0
    assert run.record_counts() == expected_counts(sandbox, PRO_STREAMS)
    assert {"rejected": stats["rejected"], "busiest_window": stats["busiest_window"]} == {
        "rejected": 0,
        "busiest_window": limit,
    }
    assert window - 0.5 <= elapsed <= window * 1.2


def test_read_within_an_hourly_quota_is_neither_rejected_nor_delayed(
    private_sandbox: Callable[..., FastbillSandbox], syncs: Syncs, tmp_path: Path
) -> None:
    # The quota equals the calls a full Pro sync needs: one extra call would be rejected.
    sandbox = private_sandbox("pro", rate_limit=None, hourly_quota=22)
    config = connector_config(sandbox, requests_per_hour=22)

    run = run_connector(
        "read", tmp_path, config, configured_catalog(syncs.get("pro").catalog, PRO_STREAMS)
    )

    stats = sandbox.stats()
    assert sum(minimum_calls(sandbox, PRO_STREAMS).values()) == 22
    assert run.exit_code == 0
    assert run.record_counts() == expected_counts(sandbox, PRO_STREAMS)
    assert stats["rejected"] == 0
    assert stats["calls"] == 22
    assert not [log for log in run.logs() if ": waiting " in log]  # never held back


# ---------------------------------------------------------------------------------------------
# 6. Documents and webhooks (Pro): every documented answer of document.get, a plan without one


DOCUMENT_STREAMS = ["documents", "document_folders", "webhooks"]


@pytest.mark.parametrize("shape", ["docs", "go-sdk"])
def test_documents_folders_and_webhooks_arrive_in_every_documented_shape(
    shape: str, private_sandbox: Callable[..., FastbillSandbox], syncs: Syncs, tmp_path: Path
) -> None:
    sandbox = private_sandbox("pro", rate_limit=None, document_shape=shape)
    catalog = configured_catalog(syncs.get("pro").catalog, DOCUMENT_STREAMS)

    run = run_connector("read", tmp_path, connector_config(sandbox), catalog)

    assert run.exit_code == 0, run.stderr[-2000:]
    assert run.record_counts() == expected_counts(sandbox, DOCUMENT_STREAMS)
    # Documents and folders come from the same answers: one call for both, one for webhooks.
    assert sandbox.stats()["by_service"] == {"document.get": 1, "webhook.get": 1}
    raw = raw_records(sandbox, "document.get")
    for document in run.records("documents"):
        sent = raw[document["DOCUMENT_ID"]]
        assert document.get("DATE") == (None if is_zero_date(sent["DATE"]) else sent["DATE"])
        assert document["DOCUMENT_URL"] == sent["DOCUMENT_URL"]
    folders = {f["FOLDER_ID"]: f for f in run.records("document_folders")}
    filed = Counter(d["FOLDER_ID"] for d in run.records("documents"))
    assert {key: f["CONTENT_COUNT"] for key, f in folders.items()} == {
        key: filed[key] for key in folders
    }
    assert [hook["WEBHOOK_ID"] for hook in run.records("webhooks")] == ["15", "16", "17"]
    for name in DOCUMENT_STREAMS:
        validator = Draft7Validator(syncs.get("pro").stream(name)["json_schema"])
        assert [e.message for r in run.records(name) for e in validator.iter_errors(r)] == []


def test_a_plan_without_webhooks_fails_only_the_webhooks_stream(
    private_sandbox: Callable[..., FastbillSandbox], syncs: Syncs, tmp_path: Path
) -> None:
    sandbox = private_sandbox("pro", rate_limit=None, missing_services=["webhook.get"])
    catalog = configured_catalog(syncs.get("pro").catalog, DOCUMENT_STREAMS)

    run = run_connector("read", tmp_path, connector_config(sandbox), catalog)

    counts = expected_counts(sandbox, ["documents", "document_folders"])
    assert run.exit_code != 0
    assert run.record_counts() == counts
    assert run.failure_types() == ["config_error"]
    assert "does not offer webhook.get" in run.errors()[0]["message"]
    assert run.stream_statuses()["documents"][-1] == "COMPLETE"
    assert run.stream_statuses()["webhooks"][-1] == "INCOMPLETE"
    assert sandbox.stats()["by_service"] == {"document.get": 1}  # a refused call is no service
    assert sandbox.stats()["calls"] == 2

"""Child streams: exact rows from parent pages, keys, zero extra calls, incremental re-emission."""

from __future__ import annotations

from datetime import date
from typing import Any

import jsonschema
import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.entrypoint_wrapper import discover
from airbyte_cdk.test.state_builder import StateBuilder

from source_fastbill import SourceFastbill
from source_fastbill.children import EstimateItems
from source_fastbill.nesting import unfold
from unit_tests.conftest import FakeFastbill, body, config, cursor_state, page, run_read

TODAY = date(2026, 11, 21)
CFG = config(start_date="2024-01-01")

PRO_CHILDREN = {
    # child: (parent, list field, primary key, sync modes)
    "invoice_items": ("invoices", "ITEMS", ["INVOICE_ITEM_ID"], 2),
    "invoice_payments": ("invoices", "PAYMENTS", ["PAYMENT_ID"], 2),
    "invoice_vat_items": ("invoices", "VAT_ITEMS", ["INVOICE_ID", "VAT_PERCENT"], 2),
    "recurring_invoice_items": ("recurring_invoices", "ITEMS", ["INVOICE_ITEM_ID"], 1),
    "revenue_items": ("revenues", "ITEMS", ["INVOICE_ITEM_ID"], 2),
    "expense_items": ("expenses", "ITEMS", ["INVOICE_ITEM_ID"], 2),
    "estimate_items": ("estimates", "ITEMS", ["INVOICE_ITEM_ID"], 2),
    "project_tasks": ("projects", "TASKS", ["TASK_ID"], 1),
}
AUTOMATIC_CHILDREN = {
    "invoice_items": ("invoices", "ITEMS", ["INVOICE_ITEM_ID"], 1),
    "invoice_vat_items": ("invoices", "VAT_ITEMS", ["INVOICE_ID", "VAT_PERCENT"], 1),
    "subscription_addons": ("subscriptions", "ADDONS", ["SUBSCRIPTION_ID", "ARTICLE_NUMBER"], 1),
}


@pytest.fixture(autouse=True)
def frozen_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("source_fastbill.cursor.fastbill_today", lambda: TODAY)


def invoice(id_: str, changed: str = "2026-01-02 10:00:00", **lists: Any) -> dict[str, Any]:
    return {
        "INVOICE_ID": id_, "CUSTOMER_ID": "7", "INVOICE_DATE": "2026-01-02", "TYPE": "outgoing",
        "IS_CANCELED": "0", "CURRENCY_CODE": "EUR", "LASTUPDATE": changed, "INVOICE_NUMBER": "R1",
        **lists,
    }  # fmt: skip


def item(id_: str | None, net: str = "100.00") -> dict[str, Any]:
    found = {"DESCRIPTION": f"Beratung {id_}", "QUANTITY": "1.00", "COMPLETE_NET": net}
    return {**found, "INVOICE_ITEM_ID": id_} if id_ else found


def rows(output: Any, stream: str) -> list[dict[str, Any]]:
    return [m.record.data for m in output.records if m.record.stream == stream]


@pytest.mark.parametrize(
    ("edition", "children"), [("pro", PRO_CHILDREN), ("automatic", AUTOMATIC_CHILDREN)]
)
def test_discover_lists_each_child_after_its_parent_with_key_and_sync_modes(
    edition: str, children: dict[str, Any]
) -> None:
    catalog = discover(SourceFastbill(), config(edition=edition)).catalog.catalog.streams
    names = [s.name for s in catalog]
    for child, (parent, _, key, modes) in children.items():
        stream = catalog[names.index(child)]
        assert names.index(parent) < names.index(child)
        assert stream.source_defined_primary_key == [[part] for part in key]
        assert len(stream.supported_sync_modes) == modes
        if modes == 2:
            assert stream.default_cursor_field == ["LASTUPDATE"]
        assert set(key) <= set(stream.json_schema["properties"])


def test_child_rows_are_exactly_the_unfolded_lists_whatever_shape_they_come_in(
    api: FakeFastbill,
) -> None:
    parents = [
        invoice("1", ITEMS=[item("11"), item("12", "50.5")]),
        invoice("2", ITEMS=""),  # PHP's empty list
        invoice("3", ITEMS={}),
        invoice("4", ITEMS={"0": item("41"), "1": item("42")}),  # a PHP array as an object
        invoice("5"),  # no ITEMS at all
        invoice("6", ITEMS=[item(None)]),  # an item without its own ID
    ]
    api.expect(body("invoice.get"), page("INVOICES", parents))

    output = run_read(config(), "invoice_items")

    got = rows(output, "invoice_items")
    assert [(r["INVOICE_ID"], r["INVOICE_ITEM_ID"]) for r in got[:5]] == [
        ("1", "11"), ("1", "12"), ("4", "41"), ("4", "42"), ("6", got[4]["INVOICE_ITEM_ID"])
    ]  # fmt: skip
    assert len(got) == 5 and got[4]["INVOICE_ITEM_ID"].startswith("6:")
    first = got[0]
    assert first["COMPLETE_NET"] == 100.0 and first["QUANTITY"] == 1.0  # typed as in the parent
    assert first["IS_CANCELED"] is False and first["INVOICE_DATE"] == "2026-01-02"
    assert first["LASTUPDATE"] == "2026-01-02T10:00:00" and first["CUSTOMER_ID"] == "7"
    assert len({r["INVOICE_ITEM_ID"] for r in got}) == len(got)


def test_a_fallback_key_is_stable_and_not_a_position(api: FakeFastbill) -> None:
    api.expect(
        body("invoice.get"),
        page("INVOICES", [invoice("6", ITEMS=[item(None, "1"), item(None, "2")])]),
    )
    api.expect(body("invoice.get"), page("INVOICES", [invoice("6", ITEMS=[item(None, "2")])]))

    first = rows(run_read(config(), "invoice_items"), "invoice_items")
    second = rows(run_read(config(), "invoice_items"), "invoice_items")

    assert second[0]["INVOICE_ITEM_ID"] == first[1]["INVOICE_ITEM_ID"]


@pytest.mark.parametrize(
    "selected",
    [
        ["invoices", "invoice_items", "invoice_payments", "invoice_vat_items"],
        ["invoice_vat_items", "invoices", "invoice_payments"],
        ["invoice_items"],
        ["invoice_payments", "invoice_items"],
    ],
    ids=["parent first", "children around the parent", "a child alone", "two children alone"],
)
def test_children_cost_exactly_the_calls_of_their_parent(
    api: FakeFastbill, selected: list[str]
) -> None:
    full = [invoice(str(i), ITEMS=[item(f"{i}1")], PAYMENTS=[{"PAYMENT_ID": f"p{i}",
            "AMOUNT": "119.00"}], VAT_ITEMS=[{"VAT_PERCENT": "19.00", "VAT_VALUE": "19.00"}])
            for i in range(100)]  # fmt: skip
    api.expect(body("invoice.get", 0), page("INVOICES", full))
    api.expect(body("invoice.get", 100), page("INVOICES", [invoice("x", ITEMS=[item("x1")])]))

    output = run_read(config(), *selected)

    assert len(api.mock.calls) == 2  # the parent's pages, paid for once
    counts = {s: len(rows(output, s)) for s in selected}
    expected = {"invoices": 101, "invoice_items": 101, "invoice_payments": 100,
                "invoice_vat_items": 100}  # fmt: skip
    assert counts == {s: expected[s] for s in selected}
    assert output.is_in_logs("Sync summary, all")


def test_a_changed_parent_re_emits_all_its_current_children_and_only_those(
    api: FakeFastbill,
) -> None:
    saved = {"LASTUPDATE": "2026-11-20T10:00:00", "synced_until": "2026-11-20"}
    window = body("invoice.get", START_DATE="2026-10-21", END_DATE="2026-11-21")
    paid = body(
        "invoice.get",
        START_PAID_DATE="2026-10-21",
        END_PAID_DATE="2026-11-21",
        END_DATE="2026-10-20",
    )
    api.expect(
        window,
        page(
            "INVOICES",
            [
                {
                    **invoice("1", "2026-11-01 09:00:00", ITEMS=[item("11")]),  # unchanged
                    "INVOICE_DATE": "2026-11-01",
                },
                {
                    **invoice("2", "2026-11-21 08:00:00", ITEMS=[item("21"), item("23")]),  # edited
                    "INVOICE_DATE": "2026-11-02",
                },
            ],
        ),
    )
    api.expect(paid, page("INVOICES", []))
    state = StateBuilder().with_stream_state("invoice_items", saved).build()
    state += StateBuilder().with_stream_state("invoices", saved).build()

    output = run_read(CFG, "invoices", "invoice_items", mode=SyncMode.incremental, state=state)

    assert [r["INVOICE_ITEM_ID"] for r in rows(output, "invoice_items")] == ["21", "23"]
    assert [r["INVOICE_ID"] for r in rows(output, "invoices")] == ["2"]
    assert len(api.mock.calls) == 2  # one read for both
    states = {m.state.stream.stream_descriptor.name: cursor_state(m) for m in output.state_messages}
    assert states["invoice_items"] == states["invoices"]


def test_every_child_row_is_valid_against_its_discovered_schema(api: FakeFastbill) -> None:
    parents = [
        invoice(
            "1",
            ITEMS=[item("11")],
            PAYMENTS=[{"PAYMENT_ID": "9", "DATE": "2026-01-05 00:00:00", "AMOUNT": "119.00",
                       "TYPE": "1", "NOTE": ""}],
            VAT_ITEMS=[{"VAT_PERCENT": "19.00", "COMPLETE_NET": "100.00", "VAT_VALUE": 19}],
        )
    ]  # fmt: skip
    api.expect(body("invoice.get"), page("INVOICES", parents))
    children = ["invoice_items", "invoice_payments", "invoice_vat_items"]
    catalog = discover(SourceFastbill(), config()).catalog.catalog.streams
    schemas = {s.name: s.json_schema for s in catalog}

    output = run_read(config(), *children)

    for child in children:
        (row,) = rows(output, child)
        jsonschema.validate(row, schemas[child])
    assert rows(output, "invoice_vat_items")[0]["VAT_PERCENT"] == 19.0


def test_project_tasks_carry_the_project_for_time_entries(api: FakeFastbill) -> None:
    task = {"TASK_ID": "50", "TASK_NAME": "Konzept", "HOUR_PRICE": "95.00"}
    project = {"PROJECT_ID": "5", "CUSTOMER_ID": "7", "PROJECT_NAME": "Relaunch", "TASKS": [task]}
    api.expect(body("project.get"), page("PROJECTS", [project]))

    (task,) = rows(run_read(config(), "project_tasks"), "project_tasks")

    assert task == {"TASK_ID": "50", "TASK_NAME": "Konzept", "HOUR_PRICE": 95.0,
                    "PROJECT_ID": "5", "CUSTOMER_ID": "7", "PROJECT_NAME": "Relaunch"}  # fmt: skip


def test_subscription_addons_are_keyed_by_subscription_and_article(
    automatic_api: FakeFastbill,
) -> None:
    subscription = {"SUBSCRIPTION_ID": "3", "CUSTOMER_ID": "7", "STATUS": "active",
                    "ADDONS": [{"ARTICLE_NUMBER": "A1", "QUANTITY": "2"}]}  # fmt: skip
    automatic_api.expect(body("subscription.get"), page("SUBSCRIPTIONS", [subscription]))

    (addon,) = rows(
        run_read(config(edition="automatic"), "subscription_addons"), "subscription_addons"
    )

    assert addon["SUBSCRIPTION_ID"] == "3" and addon["ARTICLE_NUMBER"] == "A1"
    assert addon["STATUS"] == "active"


def test_an_interrupted_child_sync_resumes_at_the_next_window_like_its_parent(
    api: FakeFastbill,
) -> None:
    resume = {
        "resume": {
            "v": 2,
            "pass": "created",
            "from": "2026-01-01",
            "start": "2024-01-01",
            "end": "2026-11-21",
        }
    }
    api.expect(
        body("invoice.get", START_DATE="2026-01-01", END_DATE="2026-11-21"),
        page("INVOICES", [{**invoice("9", ITEMS=[item("91")]), "INVOICE_DATE": "2026-03-01"}]),
    )
    api.expect(
        body(
            "invoice.get",
            START_PAID_DATE="2024-01-01",
            END_PAID_DATE="2026-11-21",
            END_DATE="2023-12-31",
        ),
        page("INVOICES", []),
    )
    state = StateBuilder().with_stream_state("invoice_items", resume).build()

    output = run_read(CFG, "invoice_items", mode=SyncMode.incremental, state=state)

    assert [r["INVOICE_ITEM_ID"] for r in rows(output, "invoice_items")] == ["91"]
    final = cursor_state(output.state_messages[-1])
    assert final["synced_until"] == "2026-11-21" and "resume" not in final


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ({"INVOICE_ITEM_ID": "7", "ESTIMATE_ITEM_ID": "9"}, "7"),  # the API docs' name first
        ({"ESTIMATE_ITEM_ID": 9.0}, "9"),  # the PHP SDK's (2025) name, canonical
        ({"INVOICE_ITEM_ID": "", "ESTIMATE_ITEM_ID": "9"}, "9"),
    ],
)
def test_estimate_items_are_keyed_by_either_name_fastbill_may_use(
    item: dict[str, Any], key: str
) -> None:
    parent = {"ESTIMATE_ID": "1", "ITEMS": [{**item, "DESCRIPTION": "x"}]}
    (row,) = unfold(parent, "ESTIMATE_ID", EstimateItems.nesting)

    assert row["INVOICE_ITEM_ID"] == key


def test_an_estimate_item_without_any_id_is_keyed_by_its_parent_and_content() -> None:
    parent = {"ESTIMATE_ID": "1", "ITEMS": [{"DESCRIPTION": "x"}]}
    (row,) = unfold(parent, "ESTIMATE_ID", EstimateItems.nesting)

    assert row["INVOICE_ITEM_ID"].startswith("1:")

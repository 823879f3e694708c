"""Issue 15 §6: a catalog the edition cannot serve is a config error; a duplicate is read once."""

from __future__ import annotations

import logging

import pytest
from airbyte_cdk.models import FailureType
from hypothesis import given
from hypothesis import strategies as st

from source_fastbill.catalog import checked
from source_fastbill.children import by_name
from source_fastbill.config import ConfigError
from unit_tests.conftest import (
    FakeFastbill,
    body,
    catalog,
    config,
    page,
    records,
    run_read,
)

PRO = list(by_name("pro"))
AUTOMATIC = list(by_name("automatic"))
logger = logging.getLogger("test")


def test_a_typo_in_the_catalog_is_a_config_error_naming_it_and_the_editions_streams(
    api: FakeFastbill,
) -> None:
    output = run_read(config(), "invoice", "customers", expect_error=True)

    (error,) = [e.trace.error for e in output.errors]
    assert error.failure_type == FailureType.config_error
    assert "'invoice'" in error.message and "'pro' edition" in error.message
    assert ", ".join(PRO) in error.message
    assert not api.mock.calls and not output.records


def test_the_other_editions_catalog_is_a_config_error(api: FakeFastbill) -> None:
    output = run_read(config(), "customers", "subscriptions", "coupons", expect_error=True)

    message = output.errors[0].trace.error.message
    assert "the streams 'subscriptions', 'coupons'" in message
    assert not api.mock.calls


def test_a_stream_listed_twice_is_read_and_emitted_once(api: FakeFastbill) -> None:
    api.expect(body("customer.get"), page("CUSTOMERS", [{"CUSTOMER_ID": "1"}]))

    output = run_read(config(), "customers", "customers")

    assert records(output) == [{"CUSTOMER_ID": "1"}]
    assert len(api.mock.calls) == 1
    assert output.is_in_logs("selects the stream 'customers' more than once: it is read once")


names = st.sampled_from(PRO + AUTOMATIC + ["invoice", "Customers", "", "x" * 3])


@given(st.lists(names, min_size=1, max_size=8), st.sampled_from(["pro", "automatic"]))
def test_every_catalog_is_served_once_per_stream_or_refused_naming_the_unknown(
    selected: list[str], edition: str
) -> None:
    known = by_name(edition)
    unknown = [name for name in selected if name not in known]
    try:
        result = checked(catalog(*selected), edition, known, logger)
    except ConfigError as error:
        assert unknown
        assert all(f"'{name}'" in error.message for name in unknown)
        return
    assert not unknown
    assert [s.stream.name for s in result.streams] == list(dict.fromkeys(selected))


@pytest.mark.parametrize("edition", ["pro", "automatic"])
def test_a_catalog_of_the_editions_own_streams_passes_unchanged(edition: str) -> None:
    selected = catalog(*by_name(edition))
    assert checked(selected, edition, by_name(edition), logger) is selected

"""What a user sees of the shipped connector: its User-Agent and the 404 hint on a wrong URL."""

from __future__ import annotations

import importlib.metadata

import pytest

from source_fastbill.streams import USER_AGENT
from unit_tests.conftest import FakeFastbill, body, config, page, records, run_read

CUSTOMERS = page("CUSTOMERS", [{"CUSTOMER_ID": "1"}])


def test_every_request_names_the_connector_and_its_version(api: FakeFastbill) -> None:
    api.expect(body("customer.get"), CUSTOMERS)

    assert records(run_read(config(), "customers")) == [{"CUSTOMER_ID": "1"}]

    version = importlib.metadata.version("source-fastbill")
    cdk = importlib.metadata.version("airbyte-cdk")
    expected = (
        f"source-fastbill/{version} (airbyte-cdk {cdk}; "
        "+https://github.com/source-fastbill/source-fastbill)"
    )
    assert expected == USER_AGENT
    assert [call.request.headers["User-Agent"] for call in api.mock.calls] == [expected]


@pytest.mark.parametrize(
    "url", ["https://my.fastbill.com/", "https://my.fastbill.com/api/1.0", "https://x.test/api"]
)
def test_a_404_on_a_url_without_the_api_path_says_the_url_must_end_in_it(
    api: FakeFastbill, slept: list[float], url: str
) -> None:
    wrong = FakeFastbill(api.mock, url)
    for _ in range(6):
        wrong.expect(body("customer.get"), "Not Found", status=404)

    output = run_read(config(api_url=url), "customers", expect_error=True)

    message = output.errors[0].trace.error.message
    assert f"FastBill answered 404 for {url}: the api_url must end in /api/1.0/api.php" in message


def test_a_404_on_the_api_path_still_reads_as_a_deploy(
    api: FakeFastbill, slept: list[float]
) -> None:
    for _ in range(6):
        api.expect(body("customer.get"), "api not found. Probably a deploy.", status=404)

    output = run_read(config(), "customers", expect_error=True)

    assert "a deploy in progress, or a wrong api_url" in output.errors[0].trace.error.message

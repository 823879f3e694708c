"""A local FastBill API sandbox (Pro and Automatic editions) for demos, e2e tests and benchmarks.

    from integration_tests.sandbox import FastbillSandbox, DEFAULT_USERNAME, DEFAULT_API_KEY

    with FastbillSandbox(edition="pro", size=1.0, seed=42) as sb:
        requests.post(sb.url, json={"SERVICE": "customer.get", "LIMIT": 100},
                      auth=(DEFAULT_USERNAME, DEFAULT_API_KEY))

Run ``python -m integration_tests.sandbox --help`` for the command-line server.
"""

from .server import DEFAULT_API_KEY, DEFAULT_USERNAME, FastbillSandbox, SandboxConfig

__all__ = ["DEFAULT_API_KEY", "DEFAULT_USERNAME", "FastbillSandbox", "SandboxConfig"]

"""The local FastBill: one sandbox for the demo, the benchmarks, the golden file and the tests.

A dev package: the editable install (`make install`) puts it on the path; the connector's wheel
does not ship it (pyproject.toml includes it in the sdist only).

    from fastbill_sandbox import FastbillSandbox, DEFAULT_USERNAME, DEFAULT_API_KEY

    with FastbillSandbox(edition="pro", size=1.0, seed=42) as sb:
        requests.post(sb.url, json={"SERVICE": "customer.get", "LIMIT": 100},
                      auth=(DEFAULT_USERNAME, DEFAULT_API_KEY))

* server.py: the API look-alike (parse, authenticate, dispatch, filter, page) with its knobs
  (rate limits, quotas, random faults) and its fault hook, a script answering every call;
* faults.py: scripted answers (hangs, drops, trickles, odd bodies, sequences) for that hook;
* data.py: the deterministic records; runner.py: runs the connector and parses its messages.

Run ``python -m fastbill_sandbox --help`` for the command-line server.
"""

from .server import DEFAULT_API_KEY, DEFAULT_USERNAME, FastbillSandbox, SandboxConfig

__all__ = ["DEFAULT_API_KEY", "DEFAULT_USERNAME", "FastbillSandbox", "SandboxConfig"]

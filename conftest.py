"""Settings for every test: property-based tests stay bounded and repeatable in `make test`.

`make fuzz` runs them with many more, new examples (HYPOTHESIS_PROFILE=fuzz).
"""

import os

from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
settings.register_profile(
    "test", max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=_QUIET,
)  # fmt: skip
settings.register_profile("fuzz", max_examples=2_000, deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "test"))

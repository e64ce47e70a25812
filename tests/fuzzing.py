"""The settings every Hypothesis fuzz test in the suite shares (one place, four users).

`@fuzz(N)` runs N examples, the same on every run (derandomized), with no example
database (no .hypothesis/ folder of examples is written) and no deadline: on a loaded
2-core machine any example can be slow, and a slow example is not a failure. A hang
still is: faulthandler's watchdog thread (no signal handler that the code under test
could swallow, nothing interrupted midway) ends the run with exit status 1 when one
example passes HANG_SECONDS, after writing every thread's traceback to stderr (which
pytest's capture swallows as the process ends: rerun with -s to read it).
"""

from __future__ import annotations

import faulthandler
import functools

from hypothesis import HealthCheck, settings

HANG_SECONDS = 30
HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


def fuzz(examples: int):
    """`examples` derandomized examples without a database, under the hang guard."""

    def apply(test):
        test = settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=HEALTH,
        )(test)
        inner = test.hypothesis.inner_test

        @functools.wraps(inner)
        def guarded(*args, **kwargs):
            faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
            try:
                return inner(*args, **kwargs)
            finally:
                faulthandler.cancel_dump_traceback_later()

        test.hypothesis.inner_test = guarded
        return test

    return apply

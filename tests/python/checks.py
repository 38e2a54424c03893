"""The assertion the Python suites share: counts what held, and exits
non-zero at the first expectation that does not."""
import sys

passed = 0


def check(condition, what):
    global passed
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    passed += 1

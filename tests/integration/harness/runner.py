"""The shared entry point of the namespace-based integration tests.

Parses `--bin BIN --source SRC` (the rest goes to unittest), refuses to run
without root, runs the tests, calls `on_failure()` to print diagnostics when
one failed, and fails the run if any namespace of this process is left behind.
"""
import argparse
import os
import sys
import unittest

from harness.netns import leftover_namespaces


def run(name, configure, on_failure=None):
    """configure(bin_dir, source_dir) sets the test module's globals; returns an exit code."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--source", required=True)
    args, rest = parser.parse_known_args()
    configure(os.path.abspath(args.bin), os.path.abspath(args.source))
    if os.geteuid() != 0:
        print(f"{name}: needs root (network namespaces)", file=sys.stderr)
        return 1
    prefix = f"pc{os.getpid()}-"
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    ok = prog.result.wasSuccessful()
    if not ok and on_failure is not None:
        on_failure()
    left = leftover_namespaces(prefix)
    if left:
        print(f"namespaces left behind: {left}", file=sys.stderr)
        ok = False
    return 0 if ok else 1

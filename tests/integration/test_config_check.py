"""`portcullisd --config F --check` on the broken configs and the shipped one.

Each tests/data/config/broken/*.yaml starts with one or more
`# expect: <substring>` lines; --check must exit non-zero and print every
substring. images/portcullis.yaml must pass. No namespaces needed.

    python3 -u test_config_check.py --bin BUILD/bin --source REPO [unittest args]
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import unittest

BIN = None
SOURCE = None
EXPECT = re.compile(r"^#\s*expect:\s*(.*?)\s*$")


def expectations(path):
    found = []
    with open(path) as f:
        for line in f:
            m = EXPECT.match(line)
            if not m:
                if line.startswith("#") or not line.strip():
                    continue
                break
            found.append(m.group(1))
    return found


def check(path):
    return subprocess.run([os.path.join(BIN, "portcullisd"), "--config", path, "--check"],
                          capture_output=True, text=True, timeout=30)


class ConfigCheckTest(unittest.TestCase):
    def test_broken_configs_are_rejected(self):
        files = sorted(glob.glob(os.path.join(SOURCE, "tests", "data", "config", "broken", "*.yaml")))
        self.assertTrue(files, "no tests/data/config/broken/*.yaml")
        for path in files:
            with self.subTest(config=os.path.basename(path)):
                expected = expectations(path)
                self.assertTrue(expected, f"{path} has no '# expect:' line")
                res = check(path)
                output = res.stdout + res.stderr
                self.assertNotEqual(res.returncode, 0, f"--check accepted {path}:\n{output}")
                self.assertLess(res.returncode, 128, f"--check crashed on {path}:\n{output}")
                for text in expected:
                    self.assertIn(text, output, f"{path}: expected {text!r} in:\n{output}")

    def test_shipped_config_is_valid(self):
        path = os.path.join(SOURCE, "images", "portcullis.yaml")
        self.assertTrue(os.path.exists(path), f"missing {path}")
        res = check(path)
        output = res.stdout + res.stderr
        self.assertEqual(res.returncode, 0, output)
        self.assertIn("ok", output)

    def test_missing_file_is_an_error(self):
        res = check(os.path.join(SOURCE, "tests", "data", "config", "no-such-file.yaml"))
        self.assertNotEqual(res.returncode, 0)
        self.assertLess(res.returncode, 128)
        self.assertIn("no-such-file.yaml", res.stdout + res.stderr)


def main():
    global BIN, SOURCE
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--source", required=True)
    args, rest = parser.parse_known_args()
    BIN, SOURCE = os.path.abspath(args.bin), os.path.abspath(args.source)
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())

"""Runs wirecheck.py (side-by-side check against the real-server transcripts) and fails if a transcript that is
expected to MATCH no longer does. The check starts at import time in a subprocess so it runs in parallel with the
other test modules (unittest discover imports every module before running tests)."""
import os
import re
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE_DIR = os.environ.get("K8S_WIRE_DIR", "/work/shared/k8s-wire")
if not os.path.isdir(WIRE_DIR):
    WIRE_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "k8s-wire"))

# Transcripts that must MATCH (update when the fake learns more; never remove one to make the test pass).
EXPECTED_MATCH = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 32,
    33, 34, 35, 36, 37, 38, 40, 41, 42, 43, 44, 45, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64,
    65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96,
    97, 98, 99, 100, 101, 104, 106, 107, 108, 109, 110, 111, 112, 113,
}

_out = tempfile.NamedTemporaryFile(prefix="wirecheck-", suffix=".md", delete=False)
_out.close()
_proc = None
if os.path.isdir(WIRE_DIR):
    _proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "wirecheck.py"), "--dir", WIRE_DIR, "--out", _out.name],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@unittest.skipUnless(_proc is not None, "transcripts not available")
class WireCheckTest(unittest.TestCase):
    def test_expected_matches(self):
        out, _ = _proc.communicate(timeout=240)
        self.assertEqual(_proc.returncode, 0, out)
        text = open(_out.name).read()
        os.unlink(_out.name)
        verdicts = {}
        for line in text.splitlines():
            m = re.match(r"^(\d+)-\S+\s+(MATCH|DIFF|SKIPPED)", line)
            if m:
                verdicts[int(m.group(1))] = m.group(2)
        lost = sorted(n for n in EXPECTED_MATCH if verdicts.get(n) != "MATCH")
        self.assertEqual(lost, [], "transcripts no longer matching:\n" + "\n".join(
            l for l in text.splitlines() if re.match(r"^(%s)-" % "|".join(map(str, lost)), l)) if lost else "")


if __name__ == "__main__":
    unittest.main()

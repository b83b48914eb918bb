"""--server-version: /version, /fake/info and the OpenAPI info follow it; bad values are refused."""
import subprocess
import unittest

from fakeclient import PY
from util import ServerTest


class DefaultVersionTest(ServerTest):
    def test_default_is_1_19(self):
        v = self.c.get("/version").json()
        self.assertEqual((v["major"], v["minor"], v["gitVersion"]), ("1", "19", "v1.19.0-fakeapi"))
        self.assertEqual(self.c.get("/fake/info").json()["server_version"], "1.19")


class Version121Test(ServerTest):
    server_args = ("--time-scale", "0.02", "--server-version", "v1.21")

    def test_reports_1_21(self):
        v = self.c.get("/version").json()
        self.assertEqual((v["major"], v["minor"], v["gitVersion"]), ("1", "21", "v1.21.0-fakeapi"))
        self.assertEqual(self.c.get("/fake/info").json()["server_version"], "1.21")


class BadVersionTest(unittest.TestCase):
    def test_refused(self):
        for bad in ("2.0", "1.x", "19", "1.5"):
            p = subprocess.run([PY, "tests/fakeapi/fakeapi.py", "--state-dir", "/nonexistent/x", "--server-version", bad],
                               capture_output=True, text=True, cwd=__file__.rsplit("/tests/", 1)[0])
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("--server-version", p.stderr)


if __name__ == "__main__":
    unittest.main()

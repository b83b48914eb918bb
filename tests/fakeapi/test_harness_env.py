"""The integration harness passes OMJ_FAKE_ARGS to every fake API server it starts."""
import os
import sys
import unittest
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402


class HarnessEnvTest(unittest.TestCase):
    def started(self, env):
        with mock.patch.dict(os.environ, env):
            fc = harness.FakeCluster(crds=[]).start()
        try:
            return fc.info()
        finally:
            fc.stop()

    def test_extra_args_from_env(self):
        info = self.started({"OMJ_FAKE_ARGS": " --reject-empty-strings  --server-version 1.20 "})
        self.assertEqual((info["server_version"], info["reject_empty_strings"]), ("1.20", True))

    def test_default_off(self):
        with mock.patch.dict(os.environ):
            os.environ.pop("OMJ_FAKE_ARGS", None)
            info = self.started({})
        self.assertEqual((info["server_version"], info["reject_empty_strings"]), ("1.19", False))


if __name__ == "__main__":
    unittest.main()

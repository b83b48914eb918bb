"""The release binary as a user meets it: static, small, --version, --help, bad flags."""
import os
import subprocess
import unittest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(TOP, "build", "omjob-operator")


def run(*args, env=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=20,
                          env=env if env is not None else {"PATH": "/usr/bin:/bin"})


class BinaryTest(unittest.TestCase):
    def test_static_stripped_small(self):
        out = subprocess.run(["file", BIN], capture_output=True, text=True).stdout
        self.assertIn("statically linked", out)
        self.assertIn("stripped", out)
        self.assertNotIn("not stripped", out)
        self.assertLess(os.path.getsize(BIN), 1 << 20)

    def test_version_names_every_dependency(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        for dep in ("libcurl  7.88.1 (Debian 7.88.1-10+deb12u15), TLS BearSSL",
                    "BearSSL  Debian 0.6+dfsg.1-3", "cJSON    1.7.15 (Debian 1.7.15-1+deb12u4)",
                    "libyaml  0.2.5 (Debian 0.2.5-1)", "libc     musl 1.2.3-1"):
            self.assertIn(dep, r.stdout)

    def test_help_lists_every_flag_with_its_variable(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for flag, env in (("--kubeconfig", "KUBECONFIG"), ("--health-port", "HEALTH_CHECK_PORT"),
                          ("--metrics-port", "METRICS_PORT"), ("--log-level", "LOG_LEVEL"),
                          ("--watch-namespaces", "WATCH_NAMESPACES"),
                          ("--operator-namespace", "OPERATOR_NAMESPACE"),
                          ("--reconciliation-threads", "RECONCILIATION_THREADS"),
                          ("--requeue-delay-seconds", "REQUEUE_DELAY_SECONDS"),
                          ("--leader-elect", "LEADER_ELECT")):
            self.assertIn(flag, r.stdout)
            self.assertIn(env, r.stdout)

    def test_bad_flag_and_bad_env_fail_with_a_message(self):
        r = run("--no-such-flag")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--no-such-flag", r.stderr)
        r = run(env={"LOG_LEVEL": "LOUD"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("LOG_LEVEL", r.stderr)


if __name__ == "__main__":
    unittest.main()

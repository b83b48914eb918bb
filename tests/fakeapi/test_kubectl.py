"""The real kubectl as an independent client: apply a CRD and a custom resource, get -w, wait, delete with a finalizer."""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from util import TESTDATA, ServerTest, kubectl, phase, pod

HAVE_KUBECTL = shutil.which("kubectl") is not None


@unittest.skipUnless(HAVE_KUBECTL, "kubectl not installed")
class KubectlTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cache = tempfile.mkdtemp(prefix="kubectl-cache-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.cache, ignore_errors=True)
        super().tearDownClass()

    def k(self, *args, cert=False, **kw):
        return kubectl(self.srv.kubeconfig_cert if cert else self.srv.kubeconfig, *args, cache=self.cache, **kw)

    def test_1_apply_crd_and_cr(self):
        out = self.k("apply", "-f", os.path.join(TESTDATA, "widgets-crd.yaml")).stdout
        self.assertIn("customresourcedefinition.apiextensions.k8s.io/widgets.wire.example.com", out)
        self.k("wait", "--for=condition=Established", "crd/widgets.wire.example.com", "--timeout=10s")
        out = self.k("apply", "-f", os.path.join(TESTDATA, "widget-sample.yaml")).stdout
        self.assertIn("widget.wire.example.com/w-sample created", out)
        out = self.k("apply", "-f", os.path.join(TESTDATA, "widget-sample.yaml"), cert=True).stdout
        self.assertIn("unchanged", out)
        o = json.loads(self.k("get", "widget", "w-sample", "-o", "json", cert=True).stdout)
        self.assertEqual((o["spec"]["size"], o["spec"]["color"]), (3, "blue"))
        self.assertIn("w-sample", self.k("get", "wg").stdout)
        # a changed apply is a merge patch that bumps generation
        y = open(os.path.join(TESTDATA, "widget-sample.yaml")).read().replace("size: 3", "size: 4")
        self.k("apply", "-f", "-", input=y)
        o = json.loads(self.k("get", "widget", "w-sample", "-o", "json").stdout)
        self.assertEqual((o["spec"]["size"], o["metadata"]["generation"]), (4, 2))

    def test_2_watch_wait_and_finalizer_delete(self):
        self.k("apply", "-f", os.path.join(TESTDATA, "widgets-crd.yaml"))
        self.k("wait", "--for=condition=Established", "crd/widgets.wire.example.com", "--timeout=10s")
        y = open(os.path.join(TESTDATA, "widget-sample.yaml")).read().replace("w-sample", "w-fin")
        self.k("apply", "-f", "-", input=y)
        # kubectl get -w sees the change
        p = subprocess.Popen(["kubectl", "--kubeconfig", self.srv.kubeconfig, "--cache-dir", self.cache, "get", "widget", "w-fin",
                              "-w", "-o", "custom-columns=EV:.metadata.name,SIZE:.spec.size"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lines = []

            def reader():
                for line in p.stdout:
                    lines.append(line)
            th = threading.Thread(target=reader, daemon=True)
            th.start()
            deadline = time.time() + 10
            while not any("w-fin" in l for l in lines) and time.time() < deadline:
                time.sleep(0.05)
            self.k("patch", "widget", "w-fin", "--type=merge", "-p", '{"spec":{"size":42}}')
            while not any("42" in l for l in lines) and time.time() < deadline:
                time.sleep(0.05)
            self.assertTrue(any("42" in l for l in lines), lines)
        finally:
            p.kill()
            p.wait()
        # kubectl wait on a pod condition
        self.mkpod("/api/v1/namespaces/default", pod("kw", "sleep 100000"))
        self.k("wait", "--for=condition=Ready", "pod/kw", "--timeout=15s")
        # delete with a finalizer: kubectl waits until the test removes the finalizer
        self.k("patch", "widget", "w-fin", "--type=merge", "-p", '{"metadata":{"finalizers":["wire.example.com/cleanup"]}}')
        d = subprocess.Popen(["kubectl", "--kubeconfig", self.srv.kubeconfig_cert, "--cache-dir", self.cache, "delete", "widget", "w-fin",
                              "--timeout=20s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        W = "/apis/wire.example.com/v1/namespaces/default/widgets/w-fin"
        self.c.wait_for(W, lambda o: o["metadata"].get("deletionTimestamp"))
        time.sleep(0.3)
        self.assertIsNone(d.poll(), "kubectl delete returned before the finalizer was removed")
        r = self.c.patch(W, {"metadata": {"finalizers": None}})
        self.assertEqual(r.status, 200)
        out, err = d.communicate(timeout=20)
        self.assertEqual(d.returncode, 0, err)
        self.assertIn('widget.wire.example.com "w-fin" deleted', out)
        self.assertEqual(self.c.get(W).status, 404)
        # kubectl delete of a running pod waits for the graceful deletion (grace 30 s scaled)
        self.k("delete", "pod", "kw", "--timeout=20s")
        self.assertEqual(self.c.get("/api/v1/namespaces/default/pods/kw").status, 404)

    def test_3_logs_and_get_pods(self):
        self.mkpod("/api/v1/namespaces/default", pod("klog", "echo hello; echo world"), wait=phase("Succeeded"))
        self.assertEqual(self.k("logs", "klog").stdout, "hello\nworld\n")
        out = self.k("get", "pods", "-A").stdout
        self.assertIn("klog", out)
        self.assertIn("Completed", out)


if __name__ == "__main__":
    unittest.main()


PROJECT_CRDS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crds"))
EXAMPLES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))


@unittest.skipUnless(HAVE_KUBECTL and os.path.isdir(PROJECT_CRDS) and any(
    f.endswith((".yaml", ".yml")) for f in os.listdir(PROJECT_CRDS)), "no project CRDs yet")
class ProjectCRDTest(ServerTest):
    server_args = ("--time-scale", "0.02", "--crds", PROJECT_CRDS)

    def test_project_crds_load_and_examples_apply(self):
        import yaml
        cache = tempfile.mkdtemp(prefix="kubectl-cache-")
        try:
            crds = []
            for f in sorted(os.listdir(PROJECT_CRDS)):
                if f.endswith((".yaml", ".yml")):
                    crds += [d for d in yaml.safe_load_all(open(os.path.join(PROJECT_CRDS, f))) if d and d.get("kind") == "CustomResourceDefinition"]
            kinds = {}
            for crd in crds:
                g, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
                for v in crd["spec"]["versions"]:
                    r = self.c.get("/apis/%s/%s" % (g, v["name"]))
                    self.assertEqual(r.status, 200)
                    self.assertIn(plural, [x["name"] for x in r.json()["resources"]])
                    kinds[("%s/%s" % (g, v["name"]), crd["spec"]["names"]["kind"])] = crd
            # kubectl apply of the CRD files is a no-op-ish update that must succeed
            kubectl(self.srv.kubeconfig, "apply", "-f", PROJECT_CRDS, cache=cache)
            if os.path.isdir(EXAMPLES):
                for f in sorted(os.listdir(EXAMPLES)):
                    if not f.endswith((".yaml", ".yml")):
                        continue
                    for d in yaml.safe_load_all(open(os.path.join(EXAMPLES, f))):
                        if not d or (d.get("apiVersion"), d.get("kind")) not in kinds:
                            continue
                        ns = d["metadata"].get("namespace", "default")
                        self.ns(ns)
                        out = kubectl(self.srv.kubeconfig, "apply", "-f", "-", cache=cache, input=yaml.safe_dump(d)).stdout
                        self.assertIn("created", out)
                        kubectl(self.srv.kubeconfig, "get", d["kind"].lower(), d["metadata"]["name"], "-n", ns, cache=cache)
        finally:
            shutil.rmtree(cache, ignore_errors=True)

"""Issue 2 memory check: RSS of the operator with 20,000 managed pods cached (and nothing
else). Usage: /usr/bin/python3 bench/mem_pods.py [N]. Not part of make bench (takes ~1 min)."""
import json, os, subprocess, sys, time, threading, urllib.request, ssl, http.client
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from harness import FakeCluster, wait_until, free_port
f = FakeCluster(time_scale="1").start()
f.ensure_namespace("mem")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
body_t = {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "mem", "labels": {"app.kubernetes.io/managed-by": "omjob-operator", "omjob.pipelines.openmetadata.org/pod-type": "main"},
          "annotations": {"fake.omjob.dev/script": "exit 0"}},
          "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}}
ctx = ssl.create_default_context(cafile=os.path.join(f.dir, "ca.crt"))
def worker(k):
    c = http.client.HTTPSConnection("127.0.0.1", f.port, context=ctx)
    for i in range(k, N, 8):
        b = json.loads(json.dumps(body_t)); b["metadata"]["name"] = "pod-%05d" % i
        c.request("POST", "/api/v1/namespaces/mem/pods", json.dumps(b), {"Authorization": "Bearer " + f.token, "Content-Type": "application/json"})
        r = c.getresponse(); r.read()
ths = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
t0 = time.time(); [t.start() for t in ths]; [t.join() for t in ths]
print("seeded in %.1f s" % (time.time() - t0), flush=True)
hp = free_port()
p = subprocess.Popen([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "omjob-operator"), "--kubeconfig", f.kubeconfig, "--leader-elect=false", "--health-port", str(hp), "--metrics-port", "0", "--bind-address", "127.0.0.1"], stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin"})
def ready():
    try: return urllib.request.urlopen("http://127.0.0.1:%d/readyz" % hp, timeout=5).status == 200
    except Exception: return False
wait_until(ready, 300, "ready", interval=0.2)
time.sleep(3)
st = open("/proc/%d/status" % p.pid).read()
print([l for l in st.splitlines() if l.startswith(("VmRSS", "VmHWM"))])
p.terminate(); p.wait(); f.stop()

"""20,000 pods with watches open."""
import time
import unittest

from util import ServerTest, WatchReader, phase, pod


class ScaleTest(ServerTest):
    server_args = ("--time-scale", "0.02", "--seed-pods", "20000")

    def test_20000_pods_with_watches(self):
        lst = self.c.get("/api/v1/namespaces/seed/pods?limit=1")
        rv = lst.json()["metadata"]["resourceVersion"]
        self.assertEqual(lst.json()["metadata"]["remainingItemCount"], 19999)
        watches = [WatchReader(self.c, "/api/v1/pods?watch=1&resourceVersion=%s&timeoutSeconds=20" % rv),
                   WatchReader(self.c, "/api/v1/namespaces/seed/pods?watch=1&resourceVersion=%s&timeoutSeconds=20" % rv),
                   WatchReader(self.c, "/api/v1/namespaces/seed/pods?watch=1&resourceVersion=%s&timeoutSeconds=20&labelSelector=app%%3Dnew" % rv)]
        base = "/api/v1/namespaces/seed"
        for i in range(20):
            self.mkpod(base, pod("new-%02d" % i, "true", labels={"app": "new"}))
        self.c.wait_for(base + "/pods/new-19", phase("Succeeded"))
        for w in watches:
            w.wait_for(lambda e: e["object"]["metadata"]["name"] == "new-19" and e["object"]["status"].get("phase") == "Succeeded")
        t0 = time.time()
        items = self.c.get("/api/v1/namespaces/seed/pods", timeout=60).json()["items"]
        self.assertEqual(len(items), 20020)
        self.assertLess(time.time() - t0, 10)
        # paginated list over all namespaces returns every pod exactly once
        seen, cont = set(), ""
        while True:
            r = self.c.get("/api/v1/pods?limit=5000" + ("&continue=" + cont if cont else "")).json()
            seen.update((i["metadata"]["namespace"], i["metadata"]["name"]) for i in r["items"])
            cont = r["metadata"].get("continue")
            if not cont:
                break
        self.assertEqual(len([s for s in seen if s[0] == "seed"]), 20020)
        for w in watches:
            w.close()


if __name__ == "__main__":
    unittest.main()

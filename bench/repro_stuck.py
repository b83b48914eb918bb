#!/usr/bin/python3
"""Reproduces the stuck-Pending OMJobs seen while benchmarking: N OMJobs POSTed at once to the
release operator running under callgrind (which makes it ~50x slower). Prints the OMJobs that did
not finish. Usage: bench/repro_stuck.py [N] [WAIT_SECONDS]"""
import json
import sys
import tempfile

import bench

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    wait = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    try:
        res = bench.callgrind_concurrency_probe(tempfile.mkdtemp(prefix="omj-repro-"), n, wait)
    finally:
        for p in bench.CHILDREN:
            if p.poll() is None:
                p.kill()
    print(json.dumps(res, indent=1))
    sys.exit(1 if res["unfinished"] else 0)

"""Float64 numpy/scipy reference for fid-core's benchmark (never a runtime dependency of fidlab).

usage: python3 fid_reference.py X.npy Y.npy [--skip-sqrtm]
Prints one JSON line: the pytorch-fid method (np.cov + scipy.linalg.sqrtm of S1 S2) and a numpy
low-rank method (nuclear norm of C1^T C2 by SVD), with wall times and peak RSS.
"""
import json
import resource
import sys
import time

import numpy as np
import scipy.linalg

x = np.load(sys.argv[1]).astype(np.float64)
y = np.load(sys.argv[2]).astype(np.float64)
out = {"n1": len(x), "n2": len(y), "dims": x.shape[1]}

t = time.perf_counter()
m1, m2 = x.mean(0), y.mean(0)
c1 = (x - m1) / np.sqrt(len(x) - 1)
c2 = (y - m2) / np.sqrt(len(y) - 1)
nuc = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum()
out["lowrank_fid"] = float(((m1 - m2) ** 2).sum() + (c1**2).sum() + (c2**2).sum() - 2 * nuc)
out["lowrank_s"] = time.perf_counter() - t

if "--skip-sqrtm" not in sys.argv:
    t = time.perf_counter()
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    out["cov_s"] = time.perf_counter() - t
    t = time.perf_counter()
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    fid = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    out["sqrtm_s"] = time.perf_counter() - t
    out["sqrtm_fid"] = float(fid)
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))

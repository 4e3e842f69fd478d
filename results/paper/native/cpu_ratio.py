"""CPU time (time.process_time) of pynn.nest exact vs pynn.nest.native on bench_pynn's network."""
import sys, time
sys.path.insert(0, "benchmarks")
import snn.pynn  # noqa
import numpy as np, torch
from threadpoolctl import threadpool_limits
import bridge, snn
from bench_pynn import trained_network

steps = int(sys.argv[1])
torch.set_num_threads(1)
with threadpool_limits(limits=1):
    network, mean, params = trained_network(1, 1.0)
    spikes = bridge.make_input_spikes(mean, params, steps, seed=1)
    res = {}
    for label, name, opts in (("native", "pynn.nest.native", {}), ("exact", "pynn.nest", {"plasticity": "exact"}),
                              ("fast", "fast", {})):
        eng = snn.get_engine(name, record_spikes=True, **opts)
        c0, w0 = time.process_time(), time.perf_counter()
        eng.build(network.copy())
        c1, w1 = time.process_time(), time.perf_counter()
        res[label] = r = eng.run(spikes)
        c2, w2 = time.process_time(), time.perf_counter()
        print(f"{label}: build {c1-c0:.2f} CPU-s ({w1-w0:.1f} s wall); run {c2-c1:.2f} CPU-s ({w2-w1:.1f} s wall): "
              f"{steps/(c2-c1):.0f} steps/CPU-s; spikes/step {np.round(r.counts.mean(0), 3).tolist()}", flush=True)
    same = np.array_equal(res["native"].counts, res["exact"].counts) and all(
        a == b for a, b in zip(res["native"].spikes, res["exact"].spikes))
    dw = max(float(np.abs(a - b).max()) for a, b in zip(res["native"].weights, res["exact"].weights))
    print(f"native = exact spikes: {same}, max |dw| {dw:.1e}", flush=True)

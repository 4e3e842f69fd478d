"""CPU time of the native sleep (bench_pynn's network), for perf."""
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
    for name, net in (("native plastic", network),):
        eng = snn.get_engine("pynn.nest.native", record_spikes=True)
        c0, w0 = time.process_time(), time.perf_counter()
        eng.build(net.copy())
        c1, w1 = time.process_time(), time.perf_counter()
        res = eng.run(spikes)
        c2, w2 = time.process_time(), time.perf_counter()
        import nest
        ks = nest.GetKernelStatus()
        print(f"{name}: build cpu {c1-c0:.2f} s wall {w1-w0:.2f}; run cpu {c2-c1:.2f} s wall {w2-w1:.2f} s "
              f"({steps/(c2-c1):.0f} steps/CPU-s); NEST time_simulate_cpu {ks['time_simulate_cpu']:.2f}, "
              f"timing {res.timing}; spikes/step {res.counts.mean(0)}", flush=True)

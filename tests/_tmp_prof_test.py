import time
from tests.test_fuzz_index import *  # noqa
from tests.test_fuzz_index import run_example, world  # noqa

def test_prof(world):
    import cProfile, pstats
    t=time.perf_counter(); run_example(world, [("entry","view","line","csv-urlpath-str")]); print("first", time.perf_counter()-t)
    pr=cProfile.Profile(); pr.enable()
    for i in range(5):
        run_example(world, [("entry","view","line","csv-urlpath-str")])
    pr.disable()
    pstats.Stats(pr).sort_stats("cumulative").print_stats(40)

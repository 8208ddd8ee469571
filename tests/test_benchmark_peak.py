"""benchmarks/peak.py: published ceilings from CPU flags, measured ones that run, a roofline."""

from tests.benchmark_scripts import load_benchmark


def test_published_peak_takes_the_widest_unit_the_flags_name():
    peak = load_benchmark("peak")
    avx2 = peak.published_peak("float32", {"avx2", "fma", "sse2"}, 2.0, 2)
    assert (avx2["unit"], avx2["gops"]) == ("avx2", 2 * 2.0 * 32)
    amx = peak.published_peak("bfloat16", {"avx512_bf16", "amx_bf16"}, 2.5, 1)
    assert (amx["unit"], amx["gops"]) == ("amx_bf16", 2.5 * 1024)
    assert peak.published_peak("bfloat16", {"avx2"}, 2.5, 1)["gops"] is None  # no bf16 unit: no figure
    assert peak.published_peak("float32", {"avx512f"}, None, 2)["gops"] is None  # clock unknown


def test_ceilings_measure_every_dtype_and_a_bandwidth():
    result = load_benchmark("peak").ceilings(1, sizes=(64,), bandwidth_mb=8)
    assert result["bandwidth_gbs"] > 0
    for dtype in ("float32", "bfloat16", "int8"):
        assert result["peaks"][dtype]["measured"]["gops"] > 0, dtype


def test_roofline_names_the_ceiling_that_binds():
    bench = load_benchmark("inference")
    # 1 GFLOP at 100 GOP/s = 10 ms; 100 MB at 10 GB/s = 10.5 ms: memory binds
    seconds, bound = bench.roofline(1e9, 100 * 2**20, 100.0, 10.0)
    assert bound == "memory" and abs(seconds - 100 * 2**20 / 10e9) < 1e-9
    assert bench.roofline(1e9, 1e6, 100.0, 10.0) == (0.01, "compute")

"""The CPU a run records (agent/provenance.py): CPU timings are only comparable on one CPU."""

from agent.provenance import collect_provenance, cpu_description

ZEN5 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 avx512f avx512dq
processor\t: 1
model name\t: something else
"""
SAPPHIRE_RAPIDS = "cpu family\t: 6\nmodel\t\t: 143\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: avx2 avx512f amx_bf16\n"
GRAVITON = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes\nCPU implementer\t: 0x41\n"


def test_the_cpu_names_its_family_model_widest_vector_unit_and_usable_cpus():
    assert cpu_description(ZEN5, 2) == "AMD EPYC (family 26, model 2; AVX-512), 2 CPUs"
    assert cpu_description(SAPPHIRE_RAPIDS, 1) == "Intel(R) Xeon(R) Platinum 8480+ (family 6, model 143; AMX), 1 CPU"
    assert cpu_description(GRAVITON, 4).endswith("(NEON), 4 CPUs")


def test_a_run_records_the_cpu_it_started_on():
    recorded = collect_provenance()["cpu"]
    assert recorded == cpu_description()
    assert recorded.endswith("CPUs") or recorded.endswith("1 CPU")

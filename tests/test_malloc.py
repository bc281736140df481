"""keep_freed_memory: a freed large heap block is reused without page faults (glibc only)."""

import ctypes
import platform
import resource
import sys

import pytest

from atari100k.malloc import keep_freed_memory

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only"
)

BLOCK = 100 * 2**20  # far above glibc's default mmap threshold (dynamic, at most 32 MB)


def _faults_to_fill_a_fresh_block() -> int:
    """Minor page faults of malloc + fill + free of one BLOCK."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    pointer = libc.malloc(BLOCK)
    assert pointer
    ctypes.memset(pointer, 1, BLOCK)
    libc.free(pointer)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_freed_blocks_stay_mapped_after_keep_freed_memory():
    pages = BLOCK // resource.getpagesize()
    assert keep_freed_memory()
    _faults_to_fill_a_fresh_block()  # the first use maps the memory
    # Reused from the heap: (almost) no faults. With glibc's defaults each round is mmap'ed
    # and faults all 25,600 pages again (measured: 25,600 per round before, 0 after).
    faults = [_faults_to_fill_a_fresh_block() for _ in range(3)]
    assert sum(faults) < pages // 10, faults

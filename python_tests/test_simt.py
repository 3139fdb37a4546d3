"""The SIMT emulator itself (csrc/simt/), through its self-test kernel ``phnet_simt::probe``: every
block and thread of a 3-D launch runs exactly once with its own indices; a barrier and per-block
static and dynamic shared memory work; the block order follows the seed; launches over the
hardware limits, static shared memory over 48 KiB and a barrier that only some threads of a
block reach are reported; a missed barrier shows up as reads of unwritten (NaN-filled) shared
memory. The project's kernels under the emulator are tested in test_cuda_sources.py."""

from __future__ import annotations

import pytest
import torch
from support import simt_config, simt_ops

# Columns of a probe record (csrc/simt/probe.cpp).
BLOCK, THREAD, TICKET, NEXT_STATIC, PREV_DYNAMIC = slice(0, 3), slice(3, 6), 6, 7, 8
UNWRITTEN = -1  # shared memory is filled with 0xFF bytes before each block: int64 -1, float NaN


def _expected_indices(grid, block):
    """[blocks, threads, 6]: (blockIdx, threadIdx), blocks and threads in linear x-fastest order."""

    def linear(dims):
        z, y, x = torch.meshgrid(*(torch.arange(d) for d in reversed(dims)), indexing="ij")
        return torch.stack([x, y, z], dim=-1).reshape(-1, 3)

    b, t = linear(grid), linear(block)
    return torch.cat([b[:, None, :].expand(-1, len(t), 3), t[None, :, :].expand(len(b), -1, 3)], dim=-1)


def test_every_block_and_thread_runs_once_with_its_indices_and_shares_memory_per_block():
    grid, block = (3, 2, 2), (4, 3, 2)
    with simt_config() as simt:
        out = simt.probe(list(grid), list(block))
        record = simt.last_launch()
    blocks, threads = 12, 24
    assert out.shape == (blocks, threads, 9)
    assert torch.equal(out[..., :6], _expected_indices(grid, block))
    ids = torch.arange(blocks * threads).reshape(blocks, threads)
    # After the barrier each thread reads what the next thread of ITS block stored (wrapping).
    assert torch.equal(out[..., NEXT_STATIC], ids.roll(-1, dims=1))
    assert torch.equal(out[..., PREV_DYNAMIC], torch.full_like(ids, -1))  # no dynamic shared memory
    assert record == [3, 2, 2, 4, 3, 2, 0, blocks, 1]  # one barrier per block, one launch


def test_dynamic_shared_memory_is_per_block():
    with simt_config() as simt:
        out = simt.probe([5, 1, 1], [8, 1, 1], dynamic_shared_bytes=8 * 8)
    ids = torch.arange(40).reshape(5, 8)
    assert torch.equal(out[..., PREV_DYNAMIC], -ids.roll(1, dims=1))
    assert torch.equal(out[..., NEXT_STATIC], ids.roll(-1, dims=1))


def _block_order(**settings):
    with simt_config(**settings) as simt:
        out = simt.probe([16, 2, 1], [2, 1, 1])
    tickets = out[:, 0, TICKET]  # the place of each block in the execution order
    assert sorted(tickets.tolist()) == list(range(32)) and bool((out[:, 1:, TICKET] == -1).all())
    return tickets


def test_blocks_run_in_grid_order_or_in_a_seeded_random_order():
    assert torch.equal(_block_order(), torch.arange(32))
    shuffled = _block_order(seed=7)
    assert not torch.equal(shuffled, torch.arange(32))
    assert torch.equal(_block_order(seed=7), shuffled)  # the seed fixes the order
    assert not torch.equal(_block_order(seed=8), shuffled)


@pytest.mark.parametrize(
    "grid,block,shared,reason",
    [
        ([1, 1, 1], [1025, 1, 1], 0, "blockDim.x and blockDim.y must be <= 1024"),
        ([1, 1, 1], [1, 1025, 1], 0, "blockDim.x and blockDim.y must be <= 1024"),
        ([1, 1, 1], [1, 1, 65], 0, "blockDim.z must be <= 64"),
        ([1, 1, 1], [32, 16, 4], 0, "a block has 2048 threads, more than 1024"),
        ([1, 65536, 1], [1, 1, 1], 0, "gridDim.y and gridDim.z must be <= 65535"),
        ([1, 1, 65536], [1, 1, 1], 0, "gridDim.y and gridDim.z must be <= 65535"),
        ([0, 1, 1], [1, 1, 1], 0, "a grid or block dimension is 0"),
        ([1, 1, 1], [1, 0, 1], 0, "a grid or block dimension is 0"),
        ([1, 1, 1], [1, 1, 1], 48 * 1024 + 1, "dynamic shared memory of 49153 bytes is over the 49152-byte limit"),
    ],
    ids=[
        "block-x",
        "block-y",
        "block-z",
        "block-threads",
        "grid-y",
        "grid-z",
        "grid-zero",
        "block-zero",
        "dynamic-shared",
    ],
)
def test_launches_over_the_hardware_limits_are_reported(grid, block, shared, reason):
    with simt_config() as simt, pytest.raises(RuntimeError) as err:
        simt.probe(grid, block, dynamic_shared_bytes=shared)
    message = str(err.value)
    assert f"phnet::simt: launch of probe_kernel with grid ({grid[0]}, {grid[1]}, {grid[2]}), " in message
    assert "is over the hardware limits: " + reason in message


def test_static_shared_memory_over_48_kib_is_reported():
    with (
        simt_config() as simt,
        pytest.raises(
            RuntimeError,
            match=r"shared memory of oversized_shared_kernel: "
            r"the array 'too_big' \(49160 bytes\) brings the "
            r"block's shared memory to 49160 bytes, over the "
            r"49152-byte limit of a block",
        ),
    ):
        simt.probe_oversized_shared()


def test_static_and_dynamic_shared_memory_together_over_48_kib_are_reported():
    # The probe's static ring takes 8 KiB; 41 KiB of dynamic shared memory leave too little.
    with (
        simt_config() as simt,
        pytest.raises(
            RuntimeError,
            match=r"the array 'ring' \(8192 bytes\) brings the "
            r"block's shared memory to 50176 bytes",
        ),
    ):
        simt.probe([1, 1, 1], [2, 1, 1], dynamic_shared_bytes=41 * 1024)


def test_a_barrier_that_some_threads_return_before_is_reported():
    with (
        simt_config() as simt,
        pytest.raises(
            RuntimeError,
            match=r"__syncthreads\(\) in probe_kernel, block "
            r"\(0, 0, 0\): barrier 1 was reached by 3 of the "
            r"block's 6 threads; the other 3 returned",
        ),
    ):
        simt.probe([2, 1, 1], [6, 1, 1], odd_threads_exit=True)


def test_a_missed_barrier_reads_unwritten_shared_memory():
    """Without the barrier, threads (in index order) read the slot of the next thread before it
    ran: the NaN fill of shared memory shows it. Only the last thread sees its neighbour's value
    (thread 0 wrote before it)."""
    with simt_config(skip_barrier=1) as simt:
        out = simt.probe([2, 1, 1], [4, 1, 1])
    ids = torch.arange(8).reshape(2, 4)
    assert torch.equal(out[:, :3, NEXT_STATIC], torch.full((2, 3), UNWRITTEN))
    assert torch.equal(out[:, 3, NEXT_STATIC], ids[:, 0])


def test_the_fault_exit_at_barrier_makes_odd_threads_return():
    with simt_config(exit_at_barrier=1) as simt, pytest.raises(RuntimeError, match="reached by 2 of the block's 4"):
        simt.probe([1, 1, 1], [4, 1, 1])


def test_block_index_shift_skips_block_zero_and_repeats_the_last():
    with simt_config(block_index_shift=1) as simt:
        out = simt.probe([4, 1, 1], [1, 1, 1])
    # Block b records itself at the row of blockIdx.x = min(b + 1, 3): row 0 is never written.
    assert out[1:, 0, 0].tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    "settings,match",
    [
        (dict(block_threads=48), r"'block_threads' must be a power of two in \[1, 256\].*got 48"),
        (dict(block_threads=512), r"'block_threads' must be a power of two in \[1, 256\].*got 512"),
        (dict(max_grid_dim=0), r"'max_grid_dim' must be in \[1, 65535\], got 0"),
        (dict(seed=-1), r"'seed' must be >= 0"),
        (dict(skip_barrier=-2), r"the fault arguments must be >= 0 \(0: off\), got .*skip_barrier = -2"),
    ],
)
def test_configure_rejects_bad_settings(settings, match):
    with pytest.raises(RuntimeError, match=match):
        simt_ops().configure(**settings)


def test_the_test_library_is_not_loaded_by_importing_the_package():
    import subprocess
    import sys

    code = "import torch, phnet_cuda; phnet_cuda.ops.stiffness_apply; print(hasattr(torch.ops.phnet_simt, 'configure'))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"

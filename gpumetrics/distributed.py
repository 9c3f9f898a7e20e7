"""Merging metric states across the processes of a ``torch.distributed`` group.

Every state of a metric or a set travels in **one** int64 buffer reduced by **one**
all-reduce (SUM):

* integer counts are summed in place, in a section every process shares;
* every other field (weight sums, extremes, Chan moments, and the lengths of the exact-mode
  buffers) goes to a slot per process: each process writes its slot and leaves the others
  zero, so the sum hands every process every slot bit for bit (floats travel as their
  int64 bit patterns). Each process then merges the slots in rank order, so all of them
  end with the same state, whatever the reduction order of the backend.

Exact-mode score buffers (variable length) follow in one ``all_gather`` of one padded
float64 buffer. After ``sync`` every process holds the state of all of them: call it once,
before ``compute()``.
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from gpumetrics import _arrays, _buffers
from gpumetrics import states as S


def _process_group():
    """``(torch, torch.distributed)`` when a process group is initialised, else None: with
    one process (no torch, or no group) there is nothing to merge, as in torchmetrics."""
    torch = sys.modules.get("torch")  # a group needs torch imported: never import it here
    if torch is None:
        return None
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        return None
    return torch, dist


def _fields(states):
    """``(state, name, rule)`` of every fixed-size field, shared ones (int64 sums) first."""
    shared, slotted, buffers = [], [], []
    for state in states:
        for name, (rule, dtype) in state.fields.items():
            if rule == S.CONCAT:
                buffers.append((state, name))
            elif rule == S.SUM and dtype == "int64":
                shared.append((state, name))
            else:
                slotted.append((state, name, rule))
    return shared, slotted, buffers


def _device_for(torch, dist, group):
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _host(state, name) -> np.ndarray:
    return np.asarray(_arrays.to_host(state.arrays[name]))


def sync_states(states: list, group=None) -> None:
    """Replace every state by the merge of that state over all processes of ``group``; a
    no-op outside ``torch.distributed`` (one process holds every state already)."""
    found = _process_group()
    if found is None:
        return
    torch, dist = found
    world = dist.get_world_size(group)
    rank = dist.get_rank(group)
    device = _device_for(torch, dist, group)
    shared, slotted, buffers = _fields(states)

    shared_parts = [_host(st, name).astype(np.int64).ravel() for st, name in shared]
    slot_parts = [_host(st, name).astype(np.float64).ravel().view(np.int64)
                  for st, name, _ in slotted]
    lengths = np.array([sum(int(c.shape[0]) for c in st.arrays[name]) for st, name in buffers],
                       np.int64)
    n_shared = sum(p.size for p in shared_parts)
    slot = np.concatenate([*slot_parts, lengths]) if slot_parts or lengths.size else np.zeros(
        0, np.int64)
    packed = np.zeros(n_shared + world * slot.size, np.int64)
    if n_shared:
        packed[:n_shared] = np.concatenate(shared_parts)
    packed[n_shared + rank * slot.size: n_shared + (rank + 1) * slot.size] = slot

    tensor = torch.from_numpy(packed).to(device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)
    reduced = tensor.cpu().numpy()

    offset = 0
    for st, name in shared:
        shape = st.shape(name)
        size = int(np.prod(shape))
        _store(st, name, reduced[offset:offset + size].reshape(shape))
        offset += size
    slots = reduced[n_shared:].reshape(world, slot.size) if slot.size else None
    offset = 0
    for st, name, rule in slotted:
        shape = st.shape(name)
        size = int(np.prod(shape))
        per_rank = [slots[r, offset:offset + size].view(np.float64).reshape(shape)
                    for r in range(world)]
        _store(st, name, _fold(rule, per_rank).astype(st.fields[name][1]))
        offset += size
    if buffers:
        all_lengths = slots[:, offset:offset + len(buffers)]
        _gather_buffers(torch, dist, group, device, buffers, all_lengths, rank, world)


def _fold(rule, per_rank):
    """Every process's copy of a field, merged by the state's rule (``_buffers.merged``)."""
    return functools.reduce(lambda a, b: _buffers.merged(rule, a, b), per_rank)


def _store(state, name, host: np.ndarray):
    _buffers.assign(state.arrays[name], host)  # in place: the buffer stays on its device


def _gather_buffers(torch, dist, group, device, buffers, all_lengths, rank, world):
    """One all_gather of every process's exact-mode buffers, padded to the longest."""
    widths = [int(np.prod(st.shape(name)[1:])) for st, name in buffers]
    sizes = all_lengths @ np.asarray(widths, np.int64)  # (world,) values per process
    longest = int(sizes.max())
    local = [_host_concat(st, name).astype(np.float64).ravel() for st, name in buffers]
    mine = np.zeros(longest, np.float64)
    flat = np.concatenate(local) if local else np.zeros(0)
    mine[:flat.size] = flat
    gathered = [torch.empty(longest, dtype=torch.float64, device=device) for _ in range(world)]
    dist.all_gather(gathered, torch.from_numpy(mine).to(device), group=group)
    pieces = [g.cpu().numpy() for g in gathered]
    dtypes = [_host_concat(st, name).dtype if st.arrays[name] else np.dtype(
        st.fields[name][1]) for st, name in buffers]
    for i, (st, name) in enumerate(buffers):
        tail = st.shape(name)[1:]
        chunks = []
        for r in range(world):
            start = int(all_lengths[r, :i] @ np.asarray(widths[:i], np.int64))
            n = int(all_lengths[r, i])
            values = pieces[r][start:start + n * widths[i]].reshape((n, *tail))
            if n:
                chunks.append(values.astype(dtypes[i]))
        _buffers.drop_buffers(st.arrays[name])
        st.arrays[name] = chunks  # on the host: the metric places them on its device


def _host_concat(state, name) -> np.ndarray:
    return np.asarray(_arrays.to_host(_buffers.concat(state.arrays[name], state.shape(name))))

"""The skeleton graph of ST-GCN (Yan et al., AAAI 2018) with its spatial-configuration partition.

``spatial_adjacency()`` -> A (3, V, V) float32 for the 25 NTU joints, in the layout ``A[k, source, target]``
that ``einsum('nkctv,kvw->nctw')`` reads (output joint w sums its neighbours v):

* k = 0: the joint itself;
* k = 1: neighbours whose distance from the centre (SpineShoulder) is equal to or larger than the joint's;
* k = 2: neighbours nearer the centre.

Each entry is the column-normalised adjacency with self-loops, ``A D^-1`` (D: column sums, i.e. the target's
degree + 1), as st-gcn's ``normalize_digraph``. The distance from the centre is the hop distance **capped at
``max_hop``** (1 in every config of the family): joints further than one hop are at "infinite" distance, and
two infinite distances count as equal. So every edge between two joints at least two hops from the centre
(elbow-wrist, knee-ankle, ...) is in the k = 1 group in both directions; only the edges touching the centre or
its direct neighbours are split by direction. That is what the reference's partition computes
(st-gcn ``net/utils/graph.py`` ``get_hop_distance`` + ``get_adjacency('spatial')``), kept as it is.
"""

from __future__ import annotations

import numpy as np

from mamp_bench.data.kinect import GCN_CENTRE, GCN_PARENT, NUM_JOINTS


def skeleton_edges(parent: tuple[int, ...] = GCN_PARENT) -> list[tuple[int, int]]:
    """The (joint, parent) pairs of a parent array, the root (its own parent) left out."""
    return [(joint, up) for joint, up in enumerate(parent) if joint != up]


def hop_distance(num_nodes: int, edges: list[tuple[int, int]], max_hop: int) -> np.ndarray:
    """(V, V) hop distances up to ``max_hop``; ``inf`` beyond it."""
    adjacency = np.eye(num_nodes, dtype=bool)
    for i, j in edges:
        adjacency[i, j] = adjacency[j, i] = True
    distance = np.full((num_nodes, num_nodes), np.inf)
    reach = np.eye(num_nodes, dtype=bool)  # joints within d hops
    for d in range(max_hop + 1):
        distance[reach & np.isinf(distance)] = d
        reach = (reach.astype(np.int64) @ adjacency.astype(np.int64)) > 0
    return distance


def spatial_adjacency(
    num_nodes: int = NUM_JOINTS, parent: tuple[int, ...] = GCN_PARENT, centre: int = GCN_CENTRE, max_hop: int = 1
) -> np.ndarray:
    """(3, V, V) float32: [self, equal-or-farther neighbours, nearer neighbours], each ``A D^-1``."""
    if max_hop != 1:
        raise ValueError("the spatial partition is defined here for max_hop = 1 (every config of the family)")
    distance = hop_distance(num_nodes, skeleton_edges(parent), max_hop)
    linked = (distance <= max_hop).astype(np.float64)
    normalised = linked / linked.sum(axis=0, keepdims=True)  # A D^-1: divide each column by its degree
    from_centre = distance[:, centre]  # (V,) capped: inf beyond max_hop, and inf == inf
    source_nearer = from_centre[:, None] < from_centre[None, :]  # [source, target]
    self_loop = np.eye(num_nodes, dtype=bool)
    neighbour = distance == 1
    partition = np.stack(
        [
            np.where(self_loop, normalised, 0.0),
            np.where(neighbour & ~source_nearer, normalised, 0.0),
            np.where(neighbour & source_nearer, normalised, 0.0),
        ]
    )
    return partition.astype(np.float32)

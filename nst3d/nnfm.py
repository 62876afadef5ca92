"""Nearest-neighbour feature matching (the `nnfm` style loss of ARF, Zhang et al. 2022).

Every feature vector of the output (its layers concatenated along channels) is pulled toward the style
feature vector most similar to it by cosine, over a fixed pool of style positions: the loss is the mean
of 1 - cos over the (masked) positions. The nearest neighbour is searched without gradients, in chunks,
so memory stays at chunk x pool; only the matched pairs are differentiated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from nst3d.losses import fit_mask

POOL_SIZE = 4096    # style positions searched (a seeded subset when the styles have more)
CHUNK = 2048        # output positions per similarity block: CHUNK x POOL_SIZE floats at a time


def stack_layers(found: Mapping[str, torch.Tensor], layers: Mapping[str, float]) -> torch.Tensor:
    """(B, sum C, h, w): the layers' maps (all of one resolution) concatenated, each times its weight."""
    return torch.cat([found[name] * weight for name, weight in layers.items()], 1)


def style_pool(stacks: Sequence[torch.Tensor], weights: Sequence[float], generator: torch.Generator,
               size: int = POOL_SIZE) -> torch.Tensor:
    """(M, C) unit feature vectors of several styles' stacked maps (1, C, h, w); each style's share of
    the pool is its blend weight, and at most `size` positions are kept (a seeded random subset)."""
    vectors = [s[0].flatten(1).T for s in stacks]                             # [(h*w, C)]
    shares = [w / sum(weights) for w in weights]
    total = min(size, min((len(v) / s for v, s in zip(vectors, shares, strict=True) if s > 0)))
    picked = []
    for v, share in zip(vectors, shares, strict=True):
        count = int(total * share)
        if count:
            order = torch.randperm(len(v), generator=generator)[:count].to(v.device)
            picked.append(v[order])
    return F.normalize(torch.cat(picked), dim=1)


@torch.no_grad()
def nearest(queries: torch.Tensor, pool: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """(N,) index of the pool vector with the highest cosine to each of the queries (N, C)."""
    unit = F.normalize(queries, dim=1)
    return torch.cat([(part @ pool.T).argmax(1) for part in unit.split(chunk)])


def nnfm_distance(stack: torch.Tensor, pool: torch.Tensor, mask: torch.Tensor | None = None,
                  chunk: int = CHUNK) -> torch.Tensor:
    """Mean 1 - cos(x, nearest style vector) over the positions of (B, C, h, w) -> (B,); with a mask
    (B, 1, H, W), positions are weighted by their coverage and uncovered ones are not searched."""
    b, c = stack.shape[:2]
    weights = None if mask is None else fit_mask(mask, stack).reshape(b, -1)      # (B, h*w)
    out = []
    for i in range(b):
        queries = stack[i].flatten(1).T                                           # (h*w, C)
        w = None if weights is None else weights[i]
        if w is not None:
            keep = w > 0
            queries, w = queries[keep], w[keep]
        if len(queries) == 0:
            out.append(stack.new_zeros(()))
            continue
        matched = pool[nearest(queries.detach(), pool, chunk)]
        distance = 1 - F.cosine_similarity(queries, matched, dim=1)
        out.append(distance.mean() if w is None else (distance * w).sum() / w.sum())
    return torch.stack(out)

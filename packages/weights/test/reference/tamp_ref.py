"""TAMP reference in PyTorch (float32), for the unit-test fixture packages/weights/test/fixtures/tamp.json.

Follows G-JWLee/TAMP (llava/pruners/layer_single_base_pruner.py and wanda_pruner.py):
- `cos_pairwise_density`: S_vv, S_ll (mean of the positive strictly-upper-triangular cosine
  similarities within a modality) and S_vl (mean of all cross-modality similarities) of
  L2-normalised output tokens;
- `compute_the_sparsity_per_group`: the keep-budget loop with s_max = s + 0.1, with the excess
  branch subtracting (the released code adds there) and never going below the ceil floors;
- `AdaptiveMultimodalInputActivation.add_batch`: kNN (k = 3) token graph on 1 − cosine
  distances, attention propagation, greedy selection with the exp(−0.2·D) neighbour penalty
  and the RBF-kernel MMD² stop rule at 0.1·sqrt(1 − ρ).

Usage: python3 tamp_ref.py OUT.json
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(2)


def cos_pairwise_density(embeddings, image_mask):
    v = F.normalize(embeddings[image_mask], dim=1)
    l = F.normalize(embeddings[~image_mask], dim=1)
    vd = torch.mm(v, v.T).triu(diagonal=1)
    ld = torch.mm(l, l.T).triu(diagonal=1)
    return vd[vd > 0].mean().item(), ld[ld > 0].mean().item(), torch.mm(v, l.T).mean().item()


def keep_budget(scores, sizes, sparsity, max_sparsity):
    scores = torch.tensor(scores, dtype=torch.float64)
    num_parameters = torch.tensor(sizes, dtype=torch.int64)
    total = int(sum(sizes) * (1 - sparsity))
    floors = torch.ceil(num_parameters * (1 - max_sparsity)).long()
    keep = floors.clone()
    while keep.sum() < total:
        total_ratio = torch.sum(scores)
        rest = total - keep.sum()
        add = torch.ceil((scores / total_ratio) * rest).long()
        keep = keep + add
        scores[keep >= num_parameters] = 0
        keep = torch.clamp(keep, max=num_parameters)
        if add.sum() == 0:
            need = total - keep.sum()
            for index in torch.where(scores > 0)[0]:
                can = min(need, num_parameters[index] - keep[index])
                keep[index] += can
                need -= can
                if need == 0:
                    break
    excess = keep.sum() - total
    for index in torch.argsort(keep, descending=True, stable=True):
        if excess <= 0:
            break
        can = min(excess, keep[index] - floors[index])
        keep[index] -= can
        excess -= can
    return [int(k) for k in keep.tolist()]


def amia_select(out, score, density):
    out = F.normalize(out, dim=-1)
    distances = 1 - torch.mm(out, out.T)
    knn = torch.topk(distances, k=4, largest=False).indices[:, 1:]
    graph = score + (torch.exp(-torch.gather(distances, 1, knn)) * score[knn]).sum(dim=-1)
    x2 = (out ** 2).sum(dim=1).view(-1, 1)
    K = torch.exp(-(x2 + x2.T - 2.0 * torch.mm(out, out.T)) / 2)
    selected = []
    while True:
        sel = torch.argmax(graph)
        nb = knn[sel]
        graph[nb] = graph[nb] - torch.exp(-distances[sel, nb] * 0.2) * torch.maximum(graph[sel], torch.zeros_like(graph[sel]))
        selected.append(sel.item())
        idx = torch.tensor(selected)
        graph[idx] = torch.min(graph) - 1
        mmd2 = K.mean() + K[idx, :][:, idx].mean() - 2 * K[:, idx].mean()
        if mmd2 < torch.sqrt(torch.tensor(1 - density)) * 0.1 or len(selected) == len(score):
            return selected


def main(path):
    gen = torch.Generator().manual_seed(42)
    samples = []
    for t, (tokens, dim, visual) in enumerate([(12, 8, 5), (20, 16, 8), (16, 6, 10)]):
        shared = torch.randn((dim,), generator=gen)
        out = torch.randn((tokens, dim), generator=gen)
        mask = torch.zeros(tokens, dtype=torch.bool)
        mask[:visual] = True
        out[mask] += 1.5 * shared  # visual tokens cluster
        attention = torch.softmax(torch.randn((tokens,), generator=gen) * 2, dim=0)
        svv, sll, svl = cos_pairwise_density(out, mask)
        rho = (svv + sll + svl) / 3
        samples.append({
            'output': out.flatten().tolist(), 'tokens': tokens, 'dim': dim,
            'modalityMask': mask.int().tolist(), 'attention': attention.tolist(),
            'visual': svv, 'language': sll, 'cross': svl,
            'selected': amia_select(out.clone(), attention.clone(), rho),
        })
    budgets = []
    for count, s in [(4, 0.5), (7, 0.7), (12, 0.3), (3, 0.9)]:
        scores = (torch.rand((count,), generator=gen) * 3).tolist()
        sizes = torch.randint(100, 5000, (count,), generator=gen).tolist()
        budgets.append({'scores': scores, 'sizes': sizes, 'sparsity': s, 'keep': keep_budget(scores, sizes, s, min(s + 0.1, 1.0))})
    with open(path, 'w') as f:
        json.dump({'generator': 'packages/weights/test/reference/tamp_ref.py', 'torch': torch.__version__,
                   'samples': samples, 'budgets': budgets}, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])

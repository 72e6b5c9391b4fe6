"""Reference Wanda masks for the faithfulness test (packages/weights/test/wanda-faithfulness.test.ts).

Re-implements, operation for operation, what locuslab/wanda computes per linear layer:
the `scaler_row` accumulation of lib/layerwrapper.py (WrappedGPT.add_batch), the score
|W| * sqrt(scaler_row), the per-row stable sort for unstructured sparsity, the per-group
topk for N:M (prune_n of every prune_m), the --use_variant alpha bisection
(return_given_alpha), and the per-matrix threshold of prune_magnitude — on fixed random
weights and activations, and writes the inputs and the masks to
packages/weights/test/fixtures/wanda.json.

Run with Debian's PyTorch:  /usr/bin/python3 packages/weights/test/reference/wanda_ref.py
"""

import json
import os

import torch

torch.set_num_threads(2)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'fixtures', 'wanda.json')


class ColumnNorm:
    """WrappedGPT.add_batch for an nn.Linear: inputs [batch, seq, d_in] or [seq, d_in]."""

    def __init__(self, columns):
        self.scaler_row = torch.zeros((columns,))
        self.nsamples = 0

    def add_batch(self, inp):
        if len(inp.shape) == 2:
            inp = inp.unsqueeze(0)
        tmp = inp.shape[0]
        if len(inp.shape) == 3:
            inp = inp.reshape((-1, inp.shape[-1]))
        inp = inp.t()
        self.scaler_row *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        inp = inp.type(torch.float32)
        self.scaler_row += torch.norm(inp, p=2, dim=1) ** 2 / self.nsamples


def return_given_alpha(alpha, sort_res, W_metric, tmp_metric, sum_before):
    thres_cumsum = sum_before * alpha
    sort_mask = tmp_metric <= thres_cumsum.reshape((-1, 1))
    thres = torch.gather(sort_res[0], dim=1, index=sort_mask.sum(dim=1, keepdims=True) - 1)
    W_mask = W_metric <= thres
    cur_sparsity = (W_mask == True).sum() / W_mask.numel()  # noqa: E712 (as the reference)
    return W_mask, cur_sparsity


def wanda_mask(W_metric, sparsity_ratio=0.0, prune_n=0, prune_m=0, use_variant=False):
    """The body of prune_wanda's per-layer loop; returns the PRUNE mask (and alpha for the variant)."""
    W_mask = torch.zeros_like(W_metric) == 1
    alpha = None
    cur_sparsity = None
    if prune_n != 0:
        for ii in range(W_metric.shape[1]):
            if ii % prune_m == 0:
                tmp = W_metric[:, ii:(ii + prune_m)].float()
                W_mask.scatter_(1, ii + torch.topk(tmp, prune_n, dim=1, largest=False)[1], True)
    else:
        sort_res = torch.sort(W_metric, dim=-1, stable=True)
        if use_variant:
            tmp_metric = torch.cumsum(sort_res[0], dim=1)
            sum_before = W_metric.sum(dim=1)
            alpha = 0.4
            alpha_hist = [0.0, 0.8]
            W_mask, cur_sparsity = return_given_alpha(alpha, sort_res, W_metric, tmp_metric, sum_before)
            while (torch.abs(cur_sparsity - sparsity_ratio) > 0.001) and (alpha_hist[1] - alpha_hist[0] >= 0.001):
                if cur_sparsity > sparsity_ratio:
                    alpha_new = (alpha + alpha_hist[0]) / 2.0
                    alpha_hist[1] = alpha
                else:
                    alpha_new = (alpha + alpha_hist[1]) / 2.0
                    alpha_hist[0] = alpha
                alpha = alpha_new
                W_mask, cur_sparsity = return_given_alpha(alpha, sort_res, W_metric, tmp_metric, sum_before)
        else:
            indices = sort_res[1][:, :int(W_metric.shape[1] * sparsity_ratio)]
            W_mask.scatter_(1, indices, True)
    return W_mask, alpha, cur_sparsity


def magnitude_mask(W, sparsity_ratio):
    """prune_magnitude, unstructured branch: one threshold per matrix, prune |W| <= thr."""
    W_metric = torch.abs(W)
    thresh = torch.sort(W_metric.flatten())[0][int(W.numel() * sparsity_ratio)]
    return W_metric <= thresh


def bits(mask):
    return [''.join('1' if v else '0' for v in row) for row in mask.tolist()]


def make_case(name, W, batches, settings):
    stat = ColumnNorm(W.shape[1])
    for x in batches:
        stat.add_batch(x)
    W_metric = torch.abs(W) * torch.sqrt(stat.scaler_row.reshape((1, -1)))
    masks = []
    for s in settings:
        if s['kind'] == 'magnitude':
            pruned = magnitude_mask(W, s['sparsity'])
            masks.append({**s, 'pruned': bits(pruned)})
            continue
        pruned, alpha, cur = wanda_mask(
            W_metric,
            sparsity_ratio=s.get('sparsity', 0.0),
            prune_n=s.get('prune', 0),
            prune_m=s.get('group', 0),
            use_variant=s.get('variant', False),
        )
        entry = {**s, 'pruned': bits(pruned)}
        if alpha is not None:
            entry['alpha'] = alpha
            entry['achieved'] = float(cur)
        masks.append(entry)
    return {
        'name': name,
        'weight': W.tolist(),
        'inputs': [x.tolist() for x in batches],
        'scalerRow': stat.scaler_row.tolist(),
        'masks': masks,
    }


def main():
    gen = torch.Generator().manual_seed(0)
    d_out, d_in, seq = 16, 64, 8

    # Case 1: Gaussian weights, activations with a few large-magnitude input features
    # (the outliers Wanda is built for).
    W = torch.randn((d_out, d_in), generator=gen)
    scale = torch.ones(d_in)
    scale[torch.tensor([3, 17, 40])] = 20.0
    batches = [torch.randn((1, seq, d_in), generator=gen) * scale for _ in range(4)]
    gaussian = make_case('gaussian', W, batches, [
        {'kind': 'unstructured', 'sparsity': 0.5},
        {'kind': 'unstructured', 'sparsity': 0.7},
        {'kind': 'nm', 'prune': 2, 'group': 4},
        {'kind': 'nm', 'prune': 4, 'group': 8},
        {'kind': 'unstructured', 'sparsity': 0.5, 'variant': True},
        {'kind': 'unstructured', 'sparsity': 0.6, 'variant': True},
        {'kind': 'magnitude', 'sparsity': 0.5},
    ])

    # Case 2: heavy ties — weights on a coarse grid and activations ±1, so every column has
    # the same norm and equal |W| give equal scores: the stable sort's index order decides.
    Wq = torch.randint(-4, 5, (d_out, d_in), generator=gen).float() / 4
    signs = [(torch.randint(0, 2, (seq, d_in), generator=gen).float() * 2 - 1) for _ in range(3)]
    ties = make_case('ties', Wq, signs, [
        {'kind': 'unstructured', 'sparsity': 0.5},
        {'kind': 'unstructured', 'sparsity': 0.3},
        {'kind': 'unstructured', 'sparsity': 0.5, 'variant': True},
        {'kind': 'magnitude', 'sparsity': 0.5},
    ])

    with open(OUT, 'w') as f:
        json.dump({
            'generator': 'packages/weights/test/reference/wanda_ref.py',
            'torch': torch.__version__,
            'cases': [gaussian, ties],
        }, f, separators=(',', ':'))
        f.write('\n')
    print('wrote', os.path.relpath(OUT), os.path.getsize(OUT), 'bytes')


if __name__ == '__main__':
    main()

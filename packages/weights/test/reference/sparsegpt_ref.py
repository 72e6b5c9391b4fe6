"""SparseGPT reference in PyTorch (float32), for the faithfulness fixtures and the speed bench.

The algorithm follows the structure of `SparseGPT.add_batch` and `SparseGPT.fasterprune` in
IST-DASLab/sparsegpt (sparsegpt.py), without quantisation or loss tracking:
dead inputs, damping by percdamp·mean(diag H), Hinv = upper Cholesky of H⁻¹ (cholesky →
cholesky_inverse → cholesky upper), blocks of `blocksize` columns, unstructured mask per
block at floor(numel·s) of the block's sorted W1²/diag(Hinv1)², N:M at every i % M == 0,
column loop with err = (w − q)/d and the lazy update Err1·Hinv[i1:i2, i2:].

Usage:
  python3 sparsegpt_ref.py fixtures OUT.json      # writes the committed unit-test fixtures
  python3 sparsegpt_ref.py time ROWS COLS REPEATS [PREFIX]  # median time of one prune (JSON);
                                                     # PREFIX.{w,h,pruned}.f32, PREFIX.keep.u8 for a side-by-side run
"""
import base64
import json
import math
import sys
import time

import torch

torch.set_num_threads(2)


def hessian(x_batches):
    """Running H = (2/n) Σ XᵀX over batches of [batch, tokens, d_in], as add_batch does."""
    cols = x_batches[0].shape[-1]
    h = torch.zeros((cols, cols), dtype=torch.float32)
    nsamples = 0
    for inp in x_batches:
        tmp = inp.shape[0]
        inp = inp.reshape((-1, inp.shape[-1])).t()
        h *= nsamples / (nsamples + tmp)
        nsamples += tmp
        inp = math.sqrt(2 / nsamples) * inp.float()
        h += inp.matmul(inp.t())
    return h


def fasterprune(w, h, sparsity, prunen=0, prunem=0, blocksize=128, percdamp=0.01):
    """Returns (pruned W, keep mask); `w` and `h` are not modified."""
    W = w.clone().float()
    H = h.clone()
    rows, columns = W.shape
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0

    damp = percdamp * torch.mean(torch.diag(H))
    diag = torch.arange(columns)
    H[diag, diag] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    H = torch.linalg.cholesky(H, upper=True)
    Hinv = H

    pruned = torch.zeros_like(W, dtype=torch.bool)
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        count = i2 - i1

        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]

        if prunen == 0:
            tmp = W1 ** 2 / (torch.diag(Hinv1).reshape((1, -1))) ** 2
            thresh = torch.sort(tmp.flatten())[0][int(tmp.numel() * sparsity)]
            mask1 = tmp <= thresh
        else:
            mask1 = torch.zeros_like(W1) == 1

        for i in range(count):
            w_col = W1[:, i]
            d = Hinv1[i, i]

            if prunen != 0 and i % prunem == 0:
                tmp = W1[:, i:(i + prunem)] ** 2 / (torch.diag(Hinv1)[i:(i + prunem)].reshape((1, -1))) ** 2
                mask1.scatter_(1, i + torch.topk(tmp, prunen, dim=1, largest=False)[1], True)

            q = w_col.clone()
            q[mask1[:, i]] = 0
            Q1[:, i] = q

            err1 = (w_col - q) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1

        W[:, i1:i2] = Q1
        pruned[:, i1:i2] = mask1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return W, ~pruned


def f32_base64(t):
    """Little-endian float32 bytes of `t`, base64: exact and compact."""
    return base64.b64encode(t.contiguous().float().numpy().astype('<f4').tobytes()).decode('ascii')


def fixtures(path):
    inputs = []
    specs = [
        # name, rows, cols, tokens per batch, batches, dead columns, runs (blocksize, sparsity, prunen, prunem)
        ('16x64', 16, 64, 48, 3, [5], [(32, 0.5, 0, 0), (32, 0.0, 2, 4)]),
        ('24x160', 24, 160, 64, 4, [0, 77], [(32, 0.5, 0, 0), (32, 0.0, 2, 4), (32, 0.0, 4, 8), (128, 0.7, 0, 0)]),
    ]
    gen = torch.Generator().manual_seed(0)
    for name, rows, cols, tokens, batches, dead, runs in specs:
        w = torch.randn((rows, cols), generator=gen)
        # Correlated inputs with uneven column scales, so the Hessian is far from diagonal.
        mix = torch.randn((cols, cols), generator=gen) / math.sqrt(cols)
        scale = torch.exp(torch.randn((cols,), generator=gen))
        xs = []
        for _ in range(batches):
            x = torch.randn((1, tokens, cols), generator=gen).matmul(torch.eye(cols) + mix) * scale
            x[..., dead] = 0
            xs.append(x)
        h = hessian(xs)
        out = []
        for bs, s, n, m in runs:
            wp, keep = fasterprune(w, h, s, n, m, bs, 0.01)
            out.append({
                'blockSize': bs, 'percdamp': 0.01,
                'target': {'kind': 'nm', 'prune': n, 'group': m} if n else {'kind': 'unstructured', 'sparsity': s},
                'expectedWeight': f32_base64(wp),
                'expectedKeep': ''.join('1' if v else '0' for v in keep.flatten().tolist()),
            })
        inputs.append({'name': name, 'rows': rows, 'cols': cols, 'deadColumns': dead,
                       'weight': f32_base64(w), 'hessian': f32_base64(h), 'runs': out})
    with open(path, 'w') as f:
        json.dump({'generator': 'packages/weights/test/reference/sparsegpt_ref.py fixtures',
                   'torch': torch.__version__, 'encoding': 'base64 little-endian float32; keep masks as 0/1 strings, row-major',
                   'inputs': inputs}, f, indent=1)
        f.write('\n')


def timing(rows, cols, repeats, out_prefix=None):
    """Median time of one 50% unstructured prune (blocks of 128) on random W and H = (2/N)·XᵀX
    (N = 2·cols tokens). With `out_prefix`, also writes W, H, the pruned W and the keep mask
    as raw little-endian files so another implementation can be timed on the same data."""
    gen = torch.Generator().manual_seed(1)
    w = torch.randn((rows, cols), generator=gen)
    x = torch.randn((1, 2 * cols, cols), generator=gen)
    h = hessian([x])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        wp, keep = fasterprune(w, h, 0.5, 0, 0, 128, 0.01)
        times.append(time.perf_counter() - t)
    times.sort()
    if out_prefix:
        for name, t in (('w', w), ('h', h), ('pruned', wp)):
            t.contiguous().numpy().astype('<f4').tofile(f'{out_prefix}.{name}.f32')
        keep.numpy().astype('u1').tofile(f'{out_prefix}.keep.u8')
    print(json.dumps({'rows': rows, 'cols': cols, 'threads': torch.get_num_threads(), 'seconds': times[len(times) // 2], 'all': times}))


if __name__ == '__main__':
    if sys.argv[1] == 'fixtures':
        fixtures(sys.argv[2])
    elif sys.argv[1] == 'time':
        timing(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else None)
    else:
        raise SystemExit(__doc__)

"""PyTorch side of the weights benches (bench/weights-faithfulness.mjs, bench/weights-speed.mjs).

Runs the reference Wanda and SparseGPT on the weights and calibration activations that the
JavaScript side dumped (a folder with manifest.json and raw little-endian float32 files), so
both implementations see exactly the same numbers. The algorithms are not re-written here:
they are imported from the reference scripts behind the committed unit-test fixtures,
packages/weights/test/reference/wanda_ref.py (locuslab/wanda's per-layer code: the
`scaler_row` accumulation, torch.sort(stable=True) per row, topk per N:M group, the
α-variant bisection) and sparsegpt_ref.py (IST-DASLab/sparsegpt `add_batch` and
`fasterprune`).

Manifest layer entries: {name, rows, cols, samples, tokens, weight, inputs} where `weight` is
a raw float32 [rows, cols] file and `inputs` a raw float32 [samples·tokens, cols] file (the
layer's inputs, sample after sample); each sample is one batch [1, tokens, cols], as the
reference feeds one calibration sequence at a time.

Usage (Debian's PyTorch, two threads):
  OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/reference/weights_ref.py prune DUMP OUT
      statistics, Wanda masks (50%, 2:4, 4:8, α-variant 50%) and SparseGPT (50%, 2:4) for
      every layer of DUMP/manifest.json; writes raw files to OUT and OUT/results.json
  OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/reference/weights_ref.py time DUMP ROUNDS [SPARSITY [WARMUP [METHODS]]]
      per-layer [wall, CPU] seconds of Wanda (statistic; sort-based mask + apply) and
      SparseGPT (Hessian; fasterprune) at unstructured SPARSITY (default 0.5), after one
      untimed run per layer unless WARMUP is 0; METHODS (default wanda,sparsegpt) restricts
      what is timed; JSON on stdout
"""
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'packages', 'weights', 'test', 'reference'))

import sparsegpt_ref  # noqa: E402  (imported by path, see the docstring)
import wanda_ref  # noqa: E402

torch.set_num_threads(2)

WANDA_SETTINGS = [
    {'id': 'wanda-50', 'pattern': '50%', 'sparsity': 0.5},
    {'id': 'wanda-2:4', 'pattern': '2:4', 'prune': 2, 'group': 4},
    {'id': 'wanda-4:8', 'pattern': '4:8', 'prune': 4, 'group': 8},
    {'id': 'wanda-variant-50', 'pattern': '50% α-variant', 'sparsity': 0.5, 'variant': True},
]
SPARSEGPT_SETTINGS = [
    {'id': 'sparsegpt-50', 'pattern': '50%', 'sparsity': 0.5, 'prune': 0, 'group': 0},
    {'id': 'sparsegpt-2:4', 'pattern': '2:4', 'sparsity': 0.0, 'prune': 2, 'group': 4},
]


def read_f32(path, shape):
    data = np.fromfile(path, dtype='<f4')
    expected = int(np.prod(shape))
    if data.size != expected:
        raise SystemExit(f'{path}: {data.size} floats, expected {expected} for shape {shape}')
    return torch.from_numpy(data.reshape(shape).copy())


def load_layer(dump, layer):
    w = read_f32(os.path.join(dump, layer['weight']), (layer['rows'], layer['cols']))
    x = read_f32(os.path.join(dump, layer['inputs']), (layer['samples'], layer['tokens'], layer['cols']))
    batches = [x[s:s + 1] for s in range(layer['samples'])]
    return w, batches


def write_f32(path, t):
    t.contiguous().float().numpy().astype('<f4').tofile(path)


def write_u8(path, keep):
    keep.contiguous().numpy().astype('u1').tofile(path)


def wanda_statistic(w, batches):
    stat = wanda_ref.ColumnNorm(w.shape[1])
    for x in batches:
        stat.add_batch(x)
    return stat.scaler_row


def wanda_prune(w, batches, setting):
    """Everything prune_wanda does for one layer: statistic, score, mask, W[mask] = 0."""
    scaler_row = wanda_statistic(w, batches)
    W_metric = torch.abs(w) * torch.sqrt(scaler_row.reshape((1, -1)))
    pruned, alpha, achieved = wanda_ref.wanda_mask(
        W_metric,
        sparsity_ratio=setting.get('sparsity', 0.0),
        prune_n=setting.get('prune', 0),
        prune_m=setting.get('group', 0),
        use_variant=setting.get('variant', False),
    )
    out = w.clone()
    out[pruned] = 0
    return out, ~pruned, scaler_row, alpha, achieved


def prune(dump, out_dir):
    with open(os.path.join(dump, 'manifest.json')) as f:
        manifest = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    results = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'layers': []}
    for li, layer in enumerate(manifest['layers']):
        w, batches = load_layer(dump, layer)
        entry = {'name': layer['name'], 'runs': []}
        scaler_row = wanda_statistic(w, batches)
        h = sparsegpt_ref.hessian(batches)
        entry['scalerRow'] = f'L{li}.scaler.f32'
        entry['hessian'] = f'L{li}.hessian.f32'
        write_f32(os.path.join(out_dir, entry['scalerRow']), scaler_row)
        write_f32(os.path.join(out_dir, entry['hessian']), h)
        for s in WANDA_SETTINGS:
            _, keep, _, alpha, achieved = wanda_prune(w, batches, s)
            run = {'id': s['id'], 'keep': f'L{li}.{s["id"]}.keep.u8'}
            if alpha is not None:
                run['alpha'] = alpha
                run['achieved'] = float(achieved)
            write_u8(os.path.join(out_dir, run['keep']), keep)
            entry['runs'].append(run)
        for s in SPARSEGPT_SETTINGS:
            wp, keep = sparsegpt_ref.fasterprune(w, h, s['sparsity'], s['prune'], s['group'], 128, 0.01)
            run = {'id': s['id'], 'keep': f'L{li}.{s["id"]}.keep.u8', 'weight': f'L{li}.{s["id"]}.weight.f32'}
            write_u8(os.path.join(out_dir, run['keep']), keep)
            write_f32(os.path.join(out_dir, run['weight']), wp)
            entry['runs'].append(run)
        results['layers'].append(entry)
        print(f'reference: {layer["name"]} done', file=sys.stderr, flush=True)
    with open(os.path.join(out_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)


def timed(fn):
    """(wall seconds, process CPU seconds over all threads) of fn()."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return [time.perf_counter() - t, time.process_time() - c]


def timing(dump, rounds, sparsity, warmup, methods=('wanda', 'sparsegpt')):
    """Per layer and per round: Wanda and SparseGPT [wall, CPU] seconds, statistic and pruning
    apart; with `warmup`, one untimed run of each layer first. `methods` restricts which are
    timed (the other's lists stay empty)."""
    with open(os.path.join(dump, 'manifest.json')) as f:
        manifest = json.load(f)
    setting = {'sparsity': sparsity}
    layers = []
    for layer in manifest['layers']:
        w, batches = load_layer(dump, layer)
        if warmup:
            # One untimed run per layer (first-call allocations, thread pool start).
            if 'wanda' in methods:
                wanda_prune(w, batches, setting)
            if 'sparsegpt' in methods:
                sparsegpt_ref.fasterprune(w, sparsegpt_ref.hessian(batches), sparsity, 0, 0, 128, 0.01)
        rec = {'name': layer['name'], 'wanda': {'statistic': [], 'prune': []}, 'sparsegpt': {'statistic': [], 'prune': []}}
        for _ in range(rounds):
            box = {}
            if 'wanda' not in methods:
                rec['sparsegpt']['statistic'].append(timed(lambda: box.__setitem__('h', sparsegpt_ref.hessian(batches))))
                rec['sparsegpt']['prune'].append(timed(lambda: sparsegpt_ref.fasterprune(w, box['h'], sparsity, 0, 0, 128, 0.01)))
                continue
            rec['wanda']['statistic'].append(timed(lambda: box.__setitem__('s', wanda_statistic(w, batches))))

            def wanda_rest():
                W_metric = torch.abs(w) * torch.sqrt(box['s'].reshape((1, -1)))
                pruned, _, _ = wanda_ref.wanda_mask(W_metric, sparsity_ratio=sparsity)
                out = w.clone()
                out[pruned] = 0

            rec['wanda']['prune'].append(timed(wanda_rest))
            if 'sparsegpt' not in methods:
                continue
            rec['sparsegpt']['statistic'].append(timed(lambda: box.__setitem__('h', sparsegpt_ref.hessian(batches))))
            rec['sparsegpt']['prune'].append(timed(lambda: sparsegpt_ref.fasterprune(w, box['h'], sparsity, 0, 0, 128, 0.01)))
        layers.append(rec)
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'sparsity': sparsity, 'layers': layers}))


if __name__ == '__main__':
    if len(sys.argv) >= 4 and sys.argv[1] == 'prune':
        prune(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 4 and sys.argv[1] == 'time':
        timing(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 0.5,
               sys.argv[5] != '0' if len(sys.argv) > 5 else True,
               tuple(sys.argv[6].split(',')) if len(sys.argv) > 6 else ('wanda', 'sparsegpt'))
    else:
        raise SystemExit(__doc__)

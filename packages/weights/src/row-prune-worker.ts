import { type MessagePort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { serveTasks } from '@prune/core';
import { obsBlockRows, tileObsBlock } from './obs-block.js';
import { pruneGroupsLowest, pruneRowsLowest } from './row-prune.js';
import { COLS, FLAGS, GROUP, HAS_MASK, HAS_SCALE, KIND, KIND_OBS, KIND_ROWS, PARAM, READY, ROWS, SHARED_OUTPUT, START, type SharedOutputs, tileBuffers } from './row-workers.js';

// A pool worker of row-workers.ts: waits for a tile, prunes it in place in the shared
// buffer or straight into the caller's shared outputs (or runs a SparseGPT block's rows), reports DONE (or FAILED on any
// error: the caller redoes the tile to raise it).

const { control, data, port } = workerData as { control: SharedArrayBuffer; data: SharedArrayBuffer; port: MessagePort };
const c = new Int32Array(control);
const { tile, scale, mask } = tileBuffers(data);
let outputs: SharedOutputs | undefined;
Atomics.store(c, READY, 1);

/** Prunes the posted tile, in place or into the shared outputs. */
function runTask(): void {
  const rows = c[ROWS];
  const cols = c[COLS];
  if (c[KIND] === KIND_OBS) {
    obsBlockRows(tileObsBlock(tile, scale, mask, rows, cols, c[PARAM], c[GROUP]), 0, rows);
    return;
  }
  const flags = c[FLAGS];
  // New outputs are posted before the task is: drain the port to the latest.
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) outputs = m.message as SharedOutputs;
  const direct = (flags & SHARED_OUTPUT) !== 0 ? outputs : undefined;
  const at = c[START] * cols;
  const args = {
    w: tile,
    rows,
    cols,
    scale: (flags & HAS_SCALE) !== 0 ? scale.subarray(0, cols) : undefined,
    out: direct !== undefined ? new Float32Array(direct.out, 4 * at, rows * cols) : tile,
    mask: (flags & HAS_MASK) === 0 ? undefined : direct?.mask !== undefined ? new Uint8Array(direct.mask, at, rows * cols) : mask,
    op: 'worker',
    name: 'tile',
  };
  if (c[KIND] === KIND_ROWS) pruneRowsLowest(args, c[PARAM]);
  else pruneGroupsLowest(args, c[PARAM], c[GROUP]);
}

serveTasks(c, runTask);

export { createAtomicFile, writeFileAtomic } from './atomic.js';
export type { AtomicFile } from './atomic.js';
export {
  SAFETENSORS_DTYPES,
  bfloat16BitsToFloat32,
  bigIntToFloat32,
  decodeToFloat32,
  decodeToInt32,
  encodeFloat32,
  float16BitsToFloat32,
  float32ToBFloat16Bits,
  float32ToFloat16Bits,
  float8E4M3ToFloat32,
  float8E5M2ToFloat32,
  isFloatDType,
  isSafetensorsDType,
  safetensorsItemSize,
} from './dtypes.js';
export type { SafetensorsDType } from './dtypes.js';
export { MAX_HEADER_BYTES, METADATA_KEY, parseHeader, planLayout, readHeaderLength } from './header.js';
export type { SafetensorsHeader, SafetensorsLayout, SafetensorsLayoutEntry, SafetensorsTensorInfo } from './header.js';
export { SafetensorsFile, openSafetensors, readAsTensor } from './reader.js';
export type { ReadAs, ReadAsArrayMap, ReadAsTensorOptions, ReadTensorOptions, SafetensorsSource } from './reader.js';
export {
  INDEX_SUFFIX,
  MAX_INDEX_BYTES,
  ShardedSafetensors,
  checkPlainFileName,
  createShardedSafetensorsWriter,
  openCheckpoint,
  openShardedSafetensors,
  planShards,
  resolveInsideFolder,
  writeShardedSafetensors,
} from './sharded.js';
export type { ShardPlan, ShardedSafetensorsWriter, ShardedWriteResult, WriteShardedOptions } from './sharded.js';
export { createSafetensorsWriter, tensorEntry, writeSafetensors, writeSafetensorsStreaming } from './writer.js';
export type {
  NamedTensors,
  SafetensorsData,
  SafetensorsTensorEntry,
  SafetensorsTensorSpec,
  SafetensorsWriter,
  WriteSafetensorsOptions,
} from './writer.js';

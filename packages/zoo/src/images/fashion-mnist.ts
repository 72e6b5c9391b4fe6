import { PruneError } from '@prune/core';

/** Where Debian's `dataset-fashion-mnist` package installs the IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The ten Fashion-MNIST classes, indexed by label. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** Options of {@link loadFashionMnist}. */
export interface FashionMnistOptions {
  /** Read only the first `limit` examples of the split. @defaultValue the whole split */
  limit?: number;
  /**
   * Folder with the four IDX files (gzip-compressed or not).
   * @defaultValue the `PRUNE_FASHION_MNIST_DIR` environment variable, else {@link FASHION_MNIST_DIR}
   */
  dir?: string;
}

/** A split of Fashion-MNIST: grey-scale images, row-major, one byte per pixel scaled to [0, 1]. */
export interface FashionMnist {
  /** `count·height·width` pixel values in [0, 1], image after image. */
  images: Float32Array;
  /** One label in 0..9 per image (see {@link FashionMnist.classes}). */
  labels: Uint8Array;
  /** Number of images. */
  count: number;
  /** Image height in pixels (28). */
  height: number;
  /** Image width in pixels (28). */
  width: number;
  /** Class names indexed by label. */
  classes: readonly string[];
}

const IMAGES_MAGIC = 2051;
const LABELS_MAGIC = 2049;

/**
 * Reads a split of Fashion-MNIST (60 000 training or 10 000 test images) from IDX files
 * (Node only). Nothing is downloaded: on Debian, `apt-get install dataset-fashion-mnist`
 * provides the files.
 *
 * @param split - `train` or `test`.
 * @returns the images as floats in [0, 1] and their labels.
 */
export async function loadFashionMnist(split: 'train' | 'test', options: FashionMnistOptions = {}): Promise<FashionMnist> {
  if (split !== 'train' && split !== 'test') {
    throw new PruneError('INVALID_ARGUMENT', `unknown Fashion-MNIST split "${String(split)}"; use "train" or "test"`);
  }
  const { limit } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new PruneError('OUT_OF_RANGE', `limit must be a positive integer, got ${limit}`);
  }
  const dir = options.dir ?? process.env.PRUNE_FASHION_MNIST_DIR ?? FASHION_MNIST_DIR;
  const prefix = split === 'train' ? 'train' : 't10k';
  const [imageFile, labelFile] = await Promise.all([
    readIdx(dir, `${prefix}-images-idx3-ubyte`, IMAGES_MAGIC),
    readIdx(dir, `${prefix}-labels-idx1-ubyte`, LABELS_MAGIC),
  ]);
  const [total, height, width] = imageFile.dims;
  if (labelFile.dims[0] !== total) {
    throw new PruneError('CORRUPT_FILE', `Fashion-MNIST ${split}: ${total} images but ${labelFile.dims[0]} labels in ${dir}`);
  }
  const count = Math.min(total, limit ?? total);
  const pixels = count * height * width;
  const images = new Float32Array(pixels);
  for (let i = 0; i < pixels; i++) images[i] = imageFile.data[i] / 255;
  const labels = Uint8Array.from(labelFile.data.subarray(0, count));
  for (let i = 0; i < count; i++) {
    if (labels[i] >= FASHION_MNIST_CLASSES.length) {
      throw new PruneError('CORRUPT_FILE', `Fashion-MNIST ${split}: label ${labels[i]} of image ${i} is not in 0..9`);
    }
  }
  return { images, labels, count, height, width, classes: FASHION_MNIST_CLASSES };
}

interface IdxFile {
  dims: number[];
  data: Uint8Array;
}

/** Reads an unsigned-byte IDX file (`name.gz` or `name`) and checks its header against its size. */
async function readIdx(dir: string, name: string, magic: number): Promise<IdxFile> {
  const [{ readFile }, { join }, { gunzipSync }] = await Promise.all([
    import('node:fs/promises'),
    import('node:path'),
    import('node:zlib'),
  ]);
  let bytes: Uint8Array;
  try {
    bytes = gunzipSync(await readFile(join(dir, `${name}.gz`)));
  } catch (gzError) {
    try {
      bytes = await readFile(join(dir, name));
    } catch {
      throw new PruneError(
        'NOT_FOUND',
        `cannot read Fashion-MNIST file ${name}(.gz) in ${dir} (${(gzError as Error).message}); ` +
          'install it with `apt-get install dataset-fashion-mnist` or pass `dir`',
      );
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rank = magic - 2048;
  const headerBytes = 4 + 4 * rank;
  if (bytes.byteLength < headerBytes || view.getUint32(0) !== magic) {
    throw new PruneError('CORRUPT_FILE', `${name} in ${dir} is not an unsigned-byte IDX file of rank ${rank}`);
  }
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== headerBytes + size) {
    throw new PruneError('CORRUPT_FILE', `${name} in ${dir}: header says ${dims.join('×')} values but the file holds ${bytes.byteLength - headerBytes}`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/**
 * Whether an error thrown by a tfjs backend means memory ran out: tfjs-node-gpu's
 * ResourceExhaustedError ("OOM when allocating tensor"), the wasm heap failing to grow, or V8
 * failing to allocate an ArrayBuffer (the cpu backend).
 */
export function isOutOfMemory(e: unknown): boolean {
  const text = `${(e as Error)?.name ?? ''} ${(e as Error)?.message ?? String(e)}`;
  return /out of memory|\bOOM\b|ResourceExhausted|failed to allocate|Array buffer allocation failed|Invalid typed array length|Cannot enlarge memory|Memory\.grow|Maximum memory size/i.test(
    text,
  );
}

/** "try --batch-size 2" (or a smaller size/ngf at batch size 1). */
export function outOfMemoryHint(batchSize: number): string {
  return batchSize > 1
    ? `try --batch-size ${Math.floor(batchSize / 2)}`
    : 'batch size is already 1: try a smaller --size or --ngf';
}

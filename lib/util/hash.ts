import { createHash } from 'node:crypto';

/** Hex SHA-256 over a sequence of byte arrays (used for dataset and map-file checksums). */
export function sha256(...parts: ArrayBufferView[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  return h.digest('hex');
}

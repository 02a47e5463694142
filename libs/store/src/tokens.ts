// API bearer tokens: 32 random bytes shown once; the store keeps only sha256(token).
import { createHash, randomBytes } from 'node:crypto';

export const TOKEN_PREFIX = 'fidlab_';

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

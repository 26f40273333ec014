import type { Command } from 'commander';

/** Placeholder: the 'train' command(s) are being written. */
export function register(_program: Command): void {}

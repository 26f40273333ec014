import type { Command } from 'commander';

/** Placeholder: the 'maps' command(s) are being written. */
export function register(_program: Command): void {}

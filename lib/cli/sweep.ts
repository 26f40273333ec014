import type { Command } from 'commander';

/** Placeholder: the 'sweep' command(s) are being written. */
export function register(_program: Command): void {}

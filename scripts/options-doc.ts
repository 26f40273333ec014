/**
 * Writes the `ltl train` options table of docs/training.md from the declaration (lib/train/options.ts).
 *   node --import tsx scripts/options-doc.ts           rewrite the table
 *   node --import tsx scripts/options-doc.ts --check   exit 1 if the committed table is stale
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withOptionsTable } from '../lib/train/options-doc';

const file = path.join(__dirname, '..', 'docs', 'training.md');
const text = fs.readFileSync(file, 'utf8');
const next = withOptionsTable(text);
if (process.argv.includes('--check')) {
  if (next !== text) {
    console.error(`${path.relative(process.cwd(), file)}: the options table is stale; run node --import tsx scripts/options-doc.ts`);
    process.exit(1);
  }
  console.log('options table up to date');
} else if (next !== text) {
  fs.writeFileSync(file, next);
  console.log(`wrote the options table of ${path.relative(process.cwd(), file)}`);
} else console.log('options table already up to date');

/**
 * Rewrites the synonym table of docs/embedded-vlm.md (between its synonym-table markers) from the committed synonym
 * records docs/vlm-synonyms/*.json. Numbers are never typed into that table.
 *
 *   node --import tsx scripts/synonym-table.ts [--records DIR] [--md FILE] [--check]
 *
 * --check: exit 1 (and change nothing) when the file is not up to date.
 */
import * as path from 'node:path';
import { synonymTableText, updateSynonymTable } from '../lib/report/synonym-table';
import { UserError } from '../lib/util/errors';

function main(argv: string[]): number {
  const root = path.join(__dirname, '..');
  const arg = (name: string, dflt: string) => { const i = argv.indexOf(name); return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt; };
  const dir = arg('--records', path.join(root, 'docs', 'vlm-synonyms'));
  const md = arg('--md', path.join(root, 'docs', 'embedded-vlm.md'));
  if (argv.includes('--check')) {
    const { text, next } = synonymTableText(dir, md);
    const same = next === text;
    console.log(same ? `${md} is up to date` : `${md} is out of date: run node --import tsx scripts/synonym-table.ts`);
    return same ? 0 : 1;
  }
  console.log(updateSynonymTable(dir, md) ? `${md}: synonym table rewritten` : `${md}: synonym table already up to date`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  process.stderr.write(`synonym-table: ${e.message}\n`);
  process.exitCode = 2;
}

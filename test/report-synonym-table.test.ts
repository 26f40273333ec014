import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { readSynonymRecords, renderSynonymTable, updateSynonymTable, SYNONYM_TABLE_BEGIN, SYNONYM_TABLE_END, type SynonymRecord } from '../lib/report/synonym-table';
import { SYNONYM_CONCEPTS, SYNONYM_LISTS_MEASURED, heldOutEntries } from '../lib/evaluate/vlm-synonyms';
import { writeSealedJson } from '../lib/util/sealed';
import { UserError } from '../lib/util/errors';

const root = path.join(__dirname, '..');
const recordsDir = path.join(root, 'docs', 'vlm-synonyms');

test('docs/embedded-vlm.md holds the synonym table its committed records make (scripts/synonym-table.ts --check)', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'synonym-table.ts'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  // The records measure today's lists, both of them.
  for (const rec of readSynonymRecords(recordsDir)) {
    assert.deepEqual(rec.synonyms.concepts.map((c) => c.synonyms.map((s) => [s.prompt, s.list])), SYNONYM_CONCEPTS.map((c) => heldOutEntries(c, SYNONYM_LISTS_MEASURED).map((e) => [e.prompt, e.list])));
    assert.deepEqual(rec.synonyms.lists.map((l) => l.list), [...SYNONYM_LISTS_MEASURED]);
  }
});

test('the synonym table: one row per synonym, every record a column group, counts per list; records must agree', () => {
  const [a] = readSynonymRecords(recordsDir);
  const b: SynonymRecord = JSON.parse(JSON.stringify(a));
  b.label = 'other';
  b.synonyms.concepts[0].synonyms[0].mass = 0.123;
  b.synonyms.concepts[0].synonyms[0].within = false;
  const table = renderSynonymTable([a, b]);
  const rows = table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| concept'));
  const synonyms = a.synonyms.concepts.reduce((n, c) => n + c.synonyms.length + 1, 0);
  assert.equal(rows.length, synonyms);
  const first = a.synonyms.concepts[0].synonyms[0];
  assert.ok(rows.some((l) => l.includes(`"${first.prompt}"`) && l.includes('12.3 %') && l.includes('**no**')));
  assert.match(table, /- other \(.*\): list 1: \d+ of 38, list 2: \d+ of 28 within 5 points/);
  const c: SynonymRecord = JSON.parse(JSON.stringify(a));
  c.synonyms.concepts[0].synonyms.pop();
  assert.throws(() => renderSynonymTable([a, c]), (e: unknown) => e instanceof UserError && /measures other synonyms/.test(e.message));
});

test('a changed synonym record is one clear error; the table is rewritten between its markers only', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-syn-'));
  try {
    const [a] = readSynonymRecords(recordsDir);
    writeSealedJson(path.join(dir, 'a.json'), a);
    const md = path.join(dir, 'doc.md');
    fs.writeFileSync(md, `before\n${SYNONYM_TABLE_BEGIN}\nold\n${SYNONYM_TABLE_END}\nafter\n`);
    assert.equal(updateSynonymTable(dir, md), true);
    const text = fs.readFileSync(md, 'utf8');
    assert.ok(text.startsWith(`before\n${SYNONYM_TABLE_BEGIN}\n| concept`) && text.endsWith(`${SYNONYM_TABLE_END}\nafter\n`));
    assert.equal(updateSynonymTable(dir, md), false);
    const f = path.join(dir, 'a.json');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace(/"mass": 0\.9/, '"mass": 0.8'));
    assert.throws(() => readSynonymRecords(dir), (e: unknown) => e instanceof UserError && e.message.includes(f) && !e.message.includes('\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

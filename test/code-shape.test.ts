import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/** Limits that keep the training path and the notebooks' orchestration readable (issue 25): a function in lib/train
 * fits on a screen or two, a file of lib/experiments holds one concern. */
const LIB = path.join(__dirname, '..', 'lib');
const MAX_TRAIN_FUNCTION_LINES = 80;
const MAX_EXPERIMENTS_FILE_LINES = 300;

function tsFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, f));
}

test(`no function in lib/train is longer than ${MAX_TRAIN_FUNCTION_LINES} lines`, () => {
  const long: string[] = [];
  for (const file of tsFiles(path.join(LIB, 'train'))) {
    const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const visit = (n: ts.Node): void => {
      if (ts.isFunctionLike(n) && 'body' in n && n.body) {
        const first = src.getLineAndCharacterOfPosition(n.getStart(src)).line, last = src.getLineAndCharacterOfPosition(n.getEnd()).line;
        if (last - first + 1 > MAX_TRAIN_FUNCTION_LINES) long.push(`${path.relative(LIB, file)}:${first + 1} (${last - first + 1} lines)`);
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  assert.deepEqual(long, []);
});

test(`no file of lib/experiments is longer than ${MAX_EXPERIMENTS_FILE_LINES} lines`, () => {
  const long = tsFiles(path.join(LIB, 'experiments'))
    .map((f) => ({ f, n: fs.readFileSync(f, 'utf8').split('\n').length - 1 }))
    .filter(({ n }) => n > MAX_EXPERIMENTS_FILE_LINES).map(({ f, n }) => `${path.relative(LIB, f)} (${n} lines)`);
  assert.deepEqual(long, []);
});

// Map source names are known to lib/maps (MAP_SOURCES, the only list of them) and to the CLI's option table
// (lib/train/options.ts: defaults and rules a user reads in --help); elsewhere code names a source as MAP_SOURCE.x.
// 'random' is left out of the search: the word also names random shortcut labels and random recolourings.
test('map source names are string literals only in lib/maps and the option table', async () => {
  const { MAP_SOURCES } = await import('../lib/maps/registry');
  const names = new Set(Object.keys(MAP_SOURCES).filter((n) => n !== 'random'));
  const allowed = (rel: string) => rel.startsWith(`maps${path.sep}`) || rel === path.join('train', 'options.ts');
  const found: string[] = [];
  for (const file of tsFiles(LIB)) {
    const rel = path.relative(LIB, file);
    if (allowed(rel)) continue;
    const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const visit = (n: ts.Node): void => {
      if ((ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) && names.has(n.text)) {
        found.push(`${rel}:${src.getLineAndCharacterOfPosition(n.getStart(src)).line + 1} ${n.getText(src)}`);
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  assert.deepEqual(found, []);
});

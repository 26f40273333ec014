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

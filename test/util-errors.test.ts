import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { UserError, formatCliError, namingFile, systemErrorToUserError } from '../lib/util/errors';
import { writeFileAtomic } from '../lib/util/atomic';
import { CSV_FILE, PNG_FILE, prepareOutDir, prepareOutFile, type OutputFileKind } from '../lib/util/outputs';
import { tensor, writeTensorFile } from '../lib/util/tensor-file';
import { MAP_FILE_KIND, MAP_STORE_FORMAT } from '../lib/maps/store';
import { exportSplitPngs, loadDataset } from '../lib/data';
import { tmpDirs } from './tmp-helpers';
import { canMountTmpfs, canRunAsNobody, leftovers, ltl, oneLineError } from './fault-helpers';

/**
 * One rule at the CLI boundary (issue items 4-6): an error a user can cause or fix (file system,
 * permissions, full disk, bad input) is one line on stderr and exit code 1; stack traces only with
 * LTL_DEBUG=1; nothing half-written is left; outputs are checked before the work.
 */
const tmp = tmpDirs('ltl-rel-err-');

const errno = (code: string, syscall: string, p: string, dest?: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: ${syscall} '${p}'`), { code, syscall, path: p, ...(dest ? { dest } : {}) });

test('4: one function maps system error codes to one-line user errors naming the path', () => {
  const cases: Array<[NodeJS.ErrnoException, RegExp]> = [
    [errno('EEXIST', 'mkdir', 'runs/a'), /^cannot create folder runs\/a: a file of that name exists \(a folder is needed\) \(EEXIST\)$/],
    [errno('ENOTDIR', 'open', 'runs/a/config.json'), /^cannot open runs\/a\/config\.json: a part of the path is a file, not a folder \(ENOTDIR\)$/],
    [errno('EACCES', 'open', '/ro/x'), /^cannot open \/ro\/x: permission denied \(EACCES\)$/],
    [errno('ENOSPC', 'write', 'runs/a/checkpoint.bin'), /^cannot write runs\/a\/checkpoint\.bin: no space left on the device \(ENOSPC\)$/],
    [errno('EISDIR', 'open', 'maps'), /^cannot open maps: it is a folder, not a file \(EISDIR\)$/],
    [errno('EROFS', 'mkdir', '/mnt/ro'), /read-only \(EROFS\)$/],
    [errno('EDQUOT', 'write', 'f'), /quota exceeded \(EDQUOT\)$/],
    [errno('ENOENT', 'open', 'nope'), /^cannot open nope: no such file or folder \(ENOENT\)$/],
    [errno('EXDEV', 'rename', 'a', 'b'), /^cannot move a to b: .*\(EXDEV\)$/],
  ];
  for (const [e, want] of cases) {
    const u = systemErrorToUserError(e);
    assert.ok(u instanceof UserError, e.code);
    assert.match(u.message, want);
    assert.ok(!u.message.includes('\n'));
  }
  assert.match(systemErrorToUserError(errno('EACCES', 'open', 'x'), '--out x')!.message, /^--out x: cannot open x/);
  assert.equal(systemErrorToUserError(new TypeError('bug')), undefined, 'a bug is not a user error');
  assert.equal(systemErrorToUserError(Object.assign(new Error('odd'), { code: 'ERR_SOMETHING' })), undefined);
});

test('4: the CLI rule: user and system errors one line (exit 1), bugs exit 2, stack traces only with LTL_DEBUG=1', () => {
  const u = formatCliError(new UserError('bad\ninput'), false);
  assert.deepEqual(u, { text: 'ltl: error: bad input\n', exitCode: 1 });
  const s = formatCliError(errno('ENOSPC', 'write', 'f'), false);
  assert.equal(s.exitCode, 1);
  assert.equal(s.text.trim().split('\n').length, 1);
  const bug = formatCliError(new TypeError("Cannot read properties of undefined (reading 'step')"), false);
  assert.equal(bug.exitCode, 2);
  assert.ok(!/\n\s+at /.test(bug.text), 'no stack trace without LTL_DEBUG');
  assert.match(formatCliError(new TypeError('x'), true).text, /\n\s+at /, 'stack trace with LTL_DEBUG=1');
  assert.match(formatCliError(new UserError('y'), true).text, /^ltl: error: y\n.*\n\s+at /s);
});

test('5: writeFileAtomic leaves no temporary file when the rename (or anything) fails, and names the target', () => {
  const dir = tmp();
  const target = path.join(dir, 'taken');
  fs.mkdirSync(path.join(target, 'inside'), { recursive: true }); // a folder where the file should go
  assert.throws(() => writeFileAtomic(target, 'data'), (e: unknown) => {
    const u = systemErrorToUserError(e);
    return !!u && u.message === `cannot write ${target}: it is a folder, not a file (EISDIR)`;
  });
  assert.deepEqual(leftovers(dir), []);
  const file = path.join(dir, 'plain');
  fs.writeFileSync(file, 'x');
  assert.throws(() => writeFileAtomic(path.join(file, 'child.json'), 'data'), (e: unknown) => !!systemErrorToUserError(e));
  assert.deepEqual(leftovers(dir), []);
  writeFileAtomic(path.join(dir, 'ok.json'), 'fine');
  assert.equal(fs.readFileSync(path.join(dir, 'ok.json'), 'utf8'), 'fine');
  assert.deepEqual(leftovers(dir), []);
});

test('4: output checks before the work: a file where a folder is needed, a folder where a file is', () => {
  const dir = tmp();
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, 'x');
  assert.throws(() => prepareOutDir(file, '--out'), { message: `--out ${file} is a file, not a folder` });
  assert.throws(() => prepareOutDir(path.join(file, 'sub'), '--out'), { message: `--out ${path.join(file, 'sub')}: ${file} is a file, not a folder` });
  assert.throws(() => prepareOutFile(dir, '--csv'), { message: `--csv ${dir} is a folder, not a file` });
  assert.deepEqual(prepareOutDir(path.join(dir, 'new', 'deeper')), { created: true });
  assert.deepEqual(prepareOutDir(path.join(dir, 'new', 'deeper')), { created: false });
  prepareOutFile(path.join(dir, 'a', 'b.csv'));
  assert.deepEqual(leftovers(dir), [], 'the write probes are removed');
});

test('4, 6: every command gives one line for an --out that names a file, or a folder where a file goes', () => {
  const dir = tmp();
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  const folder = path.join(dir, 'a-folder');
  fs.mkdirSync(folder);
  const grid = path.join(dir, 'grid.json');
  fs.writeFileSync(grid, JSON.stringify({ dataset: 'decoymnist', epochs: 1, limit: 100 }));
  const cases: Array<[string, string[], RegExp]> = [
    ['train --out FILE', ['train', '--dataset', 'decoymnist', '--out', file], /--out .*a-file is a file, not a folder/],
    ['train --out FILE/sub', ['train', '--dataset', 'decoymnist', '--out', path.join(file, 'sub')], /a-file is a file, not a folder/],
    ['train --maps FOLDER', ['train', '--dataset', 'decoymnist', '--method', 'align', '--maps', folder, '--limit', '100', '--eval-limit', '50', '--epochs', '1', '--out', path.join(dir, 'R'), '--no-progress'], /a-folder: it is a folder, not a file \(EISDIR\)|a-folder is a folder/],
    ['maps --out FOLDER', ['maps', '--dataset', 'decoymnist', '--generator', 'oracle', '--limit', '5', '--out', folder], /--out .*a-folder is a folder, not a file/],
    ['maps --export-png FILE', ['maps', '--dataset', 'decoymnist', '--generator', 'oracle', '--limit', '5', '--out', path.join(dir, 'm.ltlmap'), '--export-png', file], /--export-png .*a-file is a file, not a folder/],
    ['data --export FILE', ['data', '--dataset', 'decoymnist', '--export', file, '--limit', '3'], /--export .*a-file is a file, not a folder/],
    ['sweep --out FILE', ['sweep', '--grid', grid, '--out', file], /--out .*a-file is a file, not a folder/],
    ['sweep-report --csv FOLDER', ['sweep-report', dir, '--csv', folder], /--csv .*a-folder is a folder, not a file/],
    ['vlm train --out FILE', ['vlm', 'train', '--seed', '1', '--out', file], /--out .*a-file is a file, not a folder/],
  ];
  for (const [name, args, want] of cases) {
    const t0 = Date.now();
    const r = ltl(args);
    assert.match(oneLineError(r, assert), want, name);
    if (name.startsWith('vlm train')) {
      assert.ok(Date.now() - t0 < 60_000, 'checked before training, not after');
      assert.ok(!r.stderr.includes('vlm train ['), 'no training step ran');
    }
  }
  assert.ok(!fs.existsSync(path.join(dir, 'R')), 'the failed start left no run folder');
  assert.deepEqual(leftovers(dir), []);
  assert.equal(fs.readFileSync(file, 'utf8'), 'x', 'the file named by --out is untouched');
  // LTL_DEBUG=1 adds the stack trace.
  const dbg = ltl(['train', '--dataset', 'decoymnist', '--out', file], { env: { LTL_DEBUG: '1' } });
  assert.equal(dbg.status, 1);
  assert.match(dbg.stderr, /\n\s+at /);
});

test('an existing output file is replaced only by one of its own kind: a figure, a CSV or a map file never overwrites a checkpoint or a plan', () => {
  const dir = tmp();
  const put = (name: string, bytes: string | Buffer) => { const f = path.join(dir, name); fs.writeFileSync(f, bytes); return f; };
  const json = put('sweep.json', '{"grid": {}}\n');
  const png = put('old.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]));
  const csv = put('old.csv', 'run,acc\n1,0.5\n');
  const binary = put('weights.bin', Buffer.from([1, 0, 2, 0, 3]));
  const notes = put('notes.md', '# My notes\n\nSeed 1, lambda 10: see the table.\n');
  const bareCsv = put('report', 'id,status,attempts,dataset\na1,done,1,decoymnist\n');
  const cnn = path.join(dir, 'selected.safetensors');
  writeTensorFile(cnn, [['w', tensor(new Float32Array([1, 2]))]], { format: 'ltl-cnn-checkpoint' });
  const maps = path.join(dir, 'old.maps.safetensors');
  writeTensorFile(maps, [['maps', tensor(new Uint8Array([1, 2]))]], { format: MAP_STORE_FORMAT });
  const refused: Array<[string, OutputFileKind, string]> = [
    [cnn, PNG_FILE, 'a PNG image'], [json, PNG_FILE, 'a PNG image'],
    [json, CSV_FILE, 'a CSV table'], [binary, CSV_FILE, 'a CSV table'], [cnn, CSV_FILE, 'a CSV table'], [notes, CSV_FILE, 'a CSV table'],
    [cnn, MAP_FILE_KIND, 'a map file'], [json, MAP_FILE_KIND, 'a map file'],
  ];
  for (const [file, kind, name] of refused) {
    const before = fs.readFileSync(file);
    assert.throws(() => prepareOutFile(file, '--x', kind), { message: `--x ${file} exists and is not ${name}: not overwritten (choose another path, or delete it first)` });
    assert.deepEqual(fs.readFileSync(file), before, `${path.basename(file)} is untouched`);
  }
  // The same kind, or no file yet: allowed.
  prepareOutFile(png, '--figure', PNG_FILE);
  prepareOutFile(csv, '--csv', CSV_FILE);
  prepareOutFile(bareCsv, '--csv', CSV_FILE); // a CSV ltl wrote to a name without .csv: its header says what it is
  prepareOutFile(maps, '--out', MAP_FILE_KIND);
  prepareOutFile(path.join(dir, 'new.png'), '--figure', PNG_FILE);
  assert.deepEqual(leftovers(dir), []);
  // an empty path names the problem, not a system error
  assert.throws(() => prepareOutDir('', '--out'), { message: '--out is empty: give the folder to write in' });
  assert.throws(() => prepareOutFile(' ', '--csv', CSV_FILE), { message: '--csv is empty: give the file to write' });
});

test('PNG exports replace earlier PNGs of their names, never another file that bears one; a refusal writes nothing', async () => {
  const dir = tmp();
  const ds = loadDataset('decoymnist');
  const first = await exportSplitPngs(ds.test, dir, 3);
  assert.deepEqual(await exportSplitPngs(ds.test, dir, 3), first, 'earlier PNGs are replaced');
  const clash = path.join(dir, `4_${ds.test.labels[4]}.png`);
  fs.writeFileSync(clash, 'my notes\n');
  await assert.rejects(exportSplitPngs(ds.test, dir, 6), { message: `--export ${dir}: ${clash} exists and is not a PNG image: not overwritten (choose another folder, or delete it first)` });
  assert.equal(fs.readFileSync(clash, 'utf8'), 'my notes\n');
  assert.ok(!fs.existsSync(path.join(dir, `3_${ds.test.labels[3]}.png`)), 'nothing written before the refusal');
  // ltl maps --export-png: the same check, before any map is made
  const mapsDir = tmp();
  fs.writeFileSync(path.join(mapsDir, '1.png'), 'not an image');
  assert.match(oneLineError(ltl(['maps', '--dataset', 'decoymnist', '--generator', 'oracle', '--limit', '3', '--out', path.join(mapsDir, 'm.safetensors'), '--export-png', mapsDir]), assert),
    /--export-png .*: .*1\.png exists and is not a PNG image: not overwritten/);
  assert.equal(fs.readFileSync(path.join(mapsDir, '1.png'), 'utf8'), 'not an image');
  assert.ok(!fs.existsSync(path.join(mapsDir, '0.png')) && !fs.existsSync(path.join(mapsDir, 'm.safetensors')));
});

test('the CLI keeps what a mistyped output would destroy: maps --out over a checkpoint, vlm train --out over a checkpoint, a partial vlm eval --record', () => {
  const dir = tmp();
  const cnn = path.join(dir, 'selected.safetensors');
  writeTensorFile(cnn, [['w', tensor(new Float32Array([1, 2]))]], { format: 'ltl-cnn-checkpoint' });
  const before = fs.readFileSync(cnn);
  assert.match(oneLineError(ltl(['maps', '--dataset', 'decoymnist', '--generator', 'oracle', '--limit', '5', '--out', cnn]), assert), /--out .*selected\.safetensors exists and is not a map file: not overwritten/);
  assert.deepEqual(fs.readFileSync(cnn), before);
  // A copy of the committed checkpoint: neither retrained over nor its evaluation record replaced by a partial one.
  const vlm = path.join(dir, 'vlm');
  fs.cpSync(path.join(__dirname, '..', 'data', 'vlm'), vlm, { recursive: true });
  const meta = fs.readFileSync(path.join(vlm, 'meta.json'));
  const t0 = Date.now();
  const t = ltl(['vlm', 'train', '--seed', '1', '--steps', '2', '--out', vlm]);
  assert.match(oneLineError(t, assert), /--out .*vlm already holds a VLM checkpoint \(model\.json, weights\.safetensors, vocab\.json, meta\.json\): not overwritten/);
  assert.ok(Date.now() - t0 < 60_000 && !t.stderr.includes('vlm train ['), 'refused before training');
  assert.match(oneLineError(ltl(['vlm', 'eval', '--checkpoint', vlm, '--limit', '5', '--record']), assert), /--record stores the evaluation on the whole test split: drop --limit/);
  assert.match(oneLineError(ltl(['vlm', 'eval', '--checkpoint', vlm, '--no-broad', '--no-synonyms', '--record']), assert), /--record with --no-broad would drop the broad gates recorded for test/);
  assert.deepEqual(fs.readFileSync(path.join(vlm, 'meta.json')), meta, 'the record is kept');
});

test('4: EACCES as an unprivileged user is one line in train, maps, data --export, sweep, sweep-report --csv and vlm train', { skip: !canRunAsNobody() && 'needs root and runuser to run as nobody' }, () => {
  const base = tmp();
  fs.chmodSync(base, 0o755);
  const ro = path.join(base, 'read-only');
  fs.mkdirSync(ro, { mode: 0o755 }); // owned by root: nobody may read, not write
  const grid = path.join(base, 'grid.json');
  fs.writeFileSync(grid, JSON.stringify({ dataset: 'decoymnist', epochs: 1, limit: 100 }));
  fs.chmodSync(grid, 0o644);
  const sweepDir = path.join(base, 'sweep');
  fs.mkdirSync(path.join(sweepDir, 'runs'), { recursive: true });
  fs.chmodSync(sweepDir, 0o755);
  fs.chmodSync(path.join(sweepDir, 'runs'), 0o755);
  const cases: Array<[string, string[]]> = [
    ['train', ['train', '--dataset', 'decoymnist', '--out', path.join(ro, 'R')]],
    ['maps', ['maps', '--dataset', 'decoymnist', '--generator', 'oracle', '--limit', '5', '--out', path.join(ro, 'm.ltlmap')]],
    ['data --export', ['data', '--dataset', 'decoymnist', '--export', path.join(ro, 'png'), '--limit', '3']],
    ['sweep', ['sweep', '--grid', grid, '--out', path.join(ro, 'sw')]],
    ['sweep-report --csv', ['sweep-report', sweepDir, '--csv', path.join(ro, 'r.csv')]],
    ['vlm train', ['vlm', 'train', '--seed', '1', '--out', path.join(ro, 'vlm')]],
  ];
  for (const [name, args] of cases) {
    const r = ltl(args, { user: 'nobody', cwd: '/' });
    assert.match(oneLineError(r, assert), /permission denied \(EACCES\)/, name);
  }
  assert.deepEqual(fs.readdirSync(ro), []);
});

test('4: a full disk (ENOSPC) mid-run is one line and leaves nothing half-written; a full disk at the start is caught before training', { skip: !canMountTmpfs() && 'needs root and a mountable tmpfs' }, () => {
  const mnt = tmp();
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status, 0);
  try {
    // Leave 3 pages: the start (write probe, config.json) fits, the 26 KB weights of the first epoch do not.
    fs.writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(52 * 1024));
    const R = path.join(mnt, 'R');
    const r = ltl(['train', '--dataset', 'decoymnist', '--method', 'vanilla', '--limit', '300', '--epochs', '1', '--eval-limit', '100', '--no-progress', '--out', R]);
    assert.match(oneLineError(r, assert), new RegExp(`^ltl: error: cannot write ${R}/(selected|checkpoint)\\.safetensors: no space left on the device \\(ENOSPC\\)$`));
    assert.ok(!fs.existsSync(R), 'no half-written run folder');
    assert.deepEqual(leftovers(mnt), []);
    // Now fill it completely: the output check says so before any work.
    try { fs.writeFileSync(path.join(mnt, 'filler2'), Buffer.alloc(64 * 1024)); } catch { /* full */ }
    for (const args of [
      ['train', '--dataset', 'decoymnist', '--out', path.join(mnt, 'R2')],
      ['maps', '--dataset', 'decoymnist', '--generator', 'oracle', '--limit', '5', '--out', path.join(mnt, 'm.ltlmap')],
    ]) {
      assert.match(oneLineError(ltl(args), assert), /no space left on the device \(ENOSPC\)/, args[0]);
    }
    assert.deepEqual(leftovers(mnt), []);
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('4: a full disk names the file whatever write hits it (appending to epochs.jsonl, writeFileSync on a name)', { skip: !canMountTmpfs() && 'needs root and a mountable tmpfs' }, () => {
  const mnt = tmp();
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status, 0);
  try {
    // With no filler both weight files of epoch 1 fit and the epoch's line in epochs.jsonl does not: Node's
    // appendFileSync fails in write(2) with no path, which gave "cannot write: no space left on the device".
    const R = path.join(mnt, 'R');
    const r = ltl(['train', '--dataset', 'decoymnist', '--method', 'vanilla', '--limit', '200', '--epochs', '1', '--eval-limit', '100', '--no-progress', '--out', R]);
    assert.match(oneLineError(r, assert), new RegExp(`^ltl: error: cannot write ${R}/[\\w.]+: no space left on the device \\(ENOSPC\\)$`));
    assert.deepEqual(leftovers(mnt), []);
    // The helper itself, on a disk now full: the error of a write on a descriptor gets the name it was given.
    try { fs.writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(64 * 1024)); } catch { /* full */ }
    const log = path.join(mnt, 'log.jsonl');
    assert.throws(() => namingFile(log, () => fs.appendFileSync(log, 'x'.repeat(8192))),
      (e: unknown) => systemErrorToUserError(e)?.message === `cannot write ${log}: no space left on the device (ENOSPC)`);
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('4: namingFile leaves an error that has a path, and anything not a system error, as it is', () => {
  const withPath = errno('ENOSPC', 'open', 'a/tmp-name');
  assert.throws(() => namingFile('a/b', () => { throw withPath; }), (e: unknown) => e === withPath && withPath.path === 'a/tmp-name');
  const bug = new TypeError('bug');
  assert.throws(() => namingFile('a/b', () => { throw bug; }), (e: unknown) => e === bug && !('path' in bug));
  assert.equal(namingFile('a/b', () => 7), 7);
});

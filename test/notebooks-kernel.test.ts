/**
 * The project's tslab kernel (scripts/tslab-kernel, started by the kernel spec that
 * scripts/setup-notebooks.sh writes):
 *  - start-up: a request that reaches the kernel while its sockets are still binding is answered
 *    (tslab 1.0.22 lost it and stopped reading: replayed with zeromq's timing in a fixture, where
 *    tslab's own start-up must fail and the kernel's must not);
 *  - the real kernel, started 20 times on a loaded machine by jupyter_client, answers the first request
 *    of every start (sent before the kernel is up, never repeated) and then runs a cell;
 *  - notebooks import 'learning-to-look' (types included) in a folder outside the project, and the
 *    kernel keeps that folder as its working directory;
 *  - another tslab than the pinned one is a clear error.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tmpDirs } from './tmp-helpers';
import { loadPinnedTslab } from '../scripts/tslab-kernel/pinned-tslab';

const ROOT = path.resolve(__dirname, '..');
const PY = path.join(ROOT, '.venv', 'bin', 'python');
const SPEC = path.join(ROOT, '.venv', 'share', 'jupyter', 'kernels', 'tslab', 'kernel.json');
const missing = fs.existsSync(PY) && fs.existsSync(SPEC) ? '' : 'the .venv with the tslab kernel spec is missing: run bash scripts/setup.sh (scripts/setup-jupyter.sh)';
// In CI (.ci/run installs the venv) a missing venv is a failure, not a skip.
const noVenv = process.env.CI ? false : missing || false;
const tmp = tmpDirs('ltl-kernel-');
const RACE = path.join(ROOT, 'test', 'fixtures', 'kernel-startup-race.js');

function race(mode: 'tslab' | 'fixed'): { answered: string[]; errors: string[] } {
  const r = spawnSync(process.execPath, [RACE, mode], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('start-up: a request that arrives while the sockets bind is answered (tslab 1.0.22 lost it and stopped reading)', () => {
  // The fixture's sockets reproduce the fault: tslab's own start-up loses both requests to EBUSY.
  const original = race('tslab');
  assert.deepEqual(original.answered, [], 'tslab 1.0.22 answers neither request in the replay');
  assert.ok(original.errors.some((e) => e.startsWith('EBUSY')), `tslab 1.0.22 fails with EBUSY: ${original.errors.join('; ')}`);
  const fixed = race('fixed');
  assert.deepEqual(fixed.answered, ['first', 'retry'], `the kernel answers both; errors: ${fixed.errors.join('; ')}`);
  assert.deepEqual(fixed.errors, []);
});

/** Runs Python code with the venv's jupyter_client; its last stdout line is JSON. */
function jupyterClient(code: string, args: string[], cwd: string, timeoutMs: number): any {
  const r = spawnSync(PY, ['-c', code, ...args], {
    cwd, encoding: 'utf8', timeout: timeoutMs,
    env: { ...process.env, JUPYTER_RUNTIME_DIR: path.join(tmp(), 'runtime'), PYDEVD_DISABLE_FILE_VALIDATION: '1' },
  });
  assert.equal(r.status, 0, `${r.stderr.slice(-3000)}\n${r.stdout.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

// Starts the kernel `n` times, `lanes` at a time; for each start the first request (kernel_info) is
// sent as soon as the kernel process exists (before its sockets are bound: zeromq queues it) and never
// sent again; then one cell runs. Reports per start whether each got its reply, and the times.
const STARTS = `
import json, queue, sys, threading, time
from jupyter_client.manager import KernelManager
n, lanes, cwd, first_timeout = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
results = []
def reply_to(kc, msg_id, timeout):
    end = time.time() + timeout
    while True:
        r = kc.get_shell_msg(timeout=max(0.01, end - time.time()))
        if r['parent_header'].get('msg_id') == msg_id:
            return r
def start(i):
    km = KernelManager(kernel_name='tslab')
    t0 = time.time()
    km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    res = {'start': i}
    try:
        info = reply_to(kc, kc.kernel_info(), first_timeout)
        res['first'] = info['msg_type']
        res['first_s'] = round(time.time() - t0, 2)
        code = 'console.log("cwd=" + process.cwd())'
        mid = kc.execute(code)
        out = ''
        while True:
            m = kc.get_iopub_msg(timeout=60)
            if m['parent_header'].get('msg_id') != mid:
                continue
            if m['msg_type'] == 'stream':
                out += m['content']['text']
            if m['msg_type'] == 'status' and m['content']['execution_state'] == 'idle':
                break
        res['execute'] = reply_to(kc, mid, 60)['content']['status']
        res['stdout'] = out
    except queue.Empty:
        res['lost'] = True
        res['first_s'] = round(time.time() - t0, 2)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    results.append(res)
def lane(k):
    for i in range(k, n, lanes):
        start(i)
threads = [threading.Thread(target=lane, args=(k,)) for k in range(lanes)]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps(sorted(results, key=lambda r: r['start'])))
`;

/** Busy processes, one per CPU and one more: the machine is loaded while they run. */
function makeLoad(): ChildProcess[] {
  return Array.from({ length: os.cpus().length + 1 }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

test('the kernel answers the first request of each of 20 starts on a loaded machine', { skip: noVenv, timeout: 8 * 60_000 }, () => {
  assert.equal(missing, '', missing);
  const outside = tmp();
  const load = makeLoad();
  const t0 = Date.now();
  let results: { start: number; first?: string; first_s: number; lost?: boolean; execute?: string; stdout?: string }[];
  try {
    // 60 s for the first reply, nbclient's and papermill's own limit for a kernel to start.
    results = jupyterClient(STARTS, ['20', '2', outside, '60'], outside, 7 * 60_000);
  } finally {
    for (const p of load) p.kill('SIGKILL');
  }
  const secs = results.map((r) => r.first_s);
  process.stderr.write(`[kernel-test] 20 starts under ${load.length} busy processes in ${((Date.now() - t0) / 1000).toFixed(0)} s; ` +
    `first reply after ${Math.min(...secs).toFixed(1)}-${Math.max(...secs).toFixed(1)} s\n`);
  assert.equal(results.length, 20);
  for (const r of results) {
    assert.ok(!r.lost, `start ${r.start}: the first request got no reply in 60 s`);
    assert.equal(r.first, 'kernel_info_reply', `start ${r.start}`);
    assert.equal(r.execute, 'ok', `start ${r.start}: the cell ran`);
    assert.equal(r.stdout?.trim(), `cwd=${outside}`, `start ${r.start}: the kernel works in the folder it was started in`);
  }
});

// One cell in a folder outside the project: the library's types are checked (a wrong assignment is
// a type error naming the library's signature), its code runs, relative paths are the folder's.
const IMPORT = `
import json, sys
from jupyter_client.manager import KernelManager
cwd = sys.argv[1]
km = KernelManager(kernel_name='tslab')
km.start_kernel(cwd=cwd)
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=60)
def run(code):
    mid = kc.execute(code)
    out = {'stdout': '', 'stderr': ''}
    while True:
        m = kc.get_iopub_msg(timeout=120)
        if m['parent_header'].get('msg_id') != mid:
            continue
        if m['msg_type'] == 'stream':
            out[m['content']['name']] += m['content']['text']
        if m['msg_type'] == 'status' and m['content']['execution_state'] == 'idle':
            break
    while True:
        r = kc.get_shell_msg(timeout=60)
        if r['parent_header'].get('msg_id') == mid:
            out['status'] = r['content']['status']
            return out
res = {
    'ok': run("import { loadDataset, report } from 'learning-to-look'; import * as fs from 'fs'; fs.writeFileSync('written.txt', typeof loadDataset); console.log(require.resolve('learning-to-look'))"),
    'typed': run("const notANumber: number = report.showTable;"),
}
kc.stop_channels()
km.shutdown_kernel(now=True)
print(json.dumps(res))
`;

test('notebooks import learning-to-look, types included, in a folder outside the project', { skip: noVenv, timeout: 3 * 60_000 }, () => {
  assert.equal(missing, '', missing);
  const outside = tmp();
  const res = jupyterClient(IMPORT, [outside], outside, 150_000);
  assert.equal(res.ok.status, 'ok', res.ok.stderr);
  assert.equal(fs.realpathSync(res.ok.stdout.trim()), fs.realpathSync(path.join(ROOT, 'dist', 'lib', 'index.js')), 'the project\'s library');
  assert.equal(fs.readFileSync(path.join(outside, 'written.txt'), 'utf8'), 'function', 'relative paths are the working directory\'s');
  assert.equal(res.typed.status, 'error');
  assert.match(res.typed.stderr, /Type '\(input: TableInput.*' is not assignable to type 'number'/, 'the library\'s declared types are checked');
});

test('another tslab than the pinned 1.0.22 is a clear error', () => {
  // A project whose node_modules/tslab differs from the pinned one in the file the kernel patches.
  const project = tmp();
  const real = path.dirname(require.resolve('tslab/package.json', { paths: [ROOT] }));
  const copy = path.join(project, 'node_modules', 'tslab');
  fs.mkdirSync(path.join(copy, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(real, 'package.json'), path.join(copy, 'package.json'));
  for (const f of ['jupyter.js', 'main.js', 'converter.js']) fs.copyFileSync(path.join(real, 'dist', f), path.join(copy, 'dist', f));
  fs.appendFileSync(path.join(copy, 'dist', 'jupyter.js'), '\n// changed\n');
  assert.throws(() => loadPinnedTslab(project), /is tslab 1\.0\.22 with other dist\/jupyter\.js, not the tslab 1\.0\.22 .*run npm ci/);
  assert.doesNotThrow(() => loadPinnedTslab(ROOT));
});

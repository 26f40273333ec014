#!/usr/bin/python3
"""Executes the project's TypeScript notebooks headless (tslab kernel) and writes reports.

Two engines: papermill (the default where it is installed, i.e. with the project's .venv python) runs
each notebook with the profile as a papermill parameter (`-p profileName quick`: the injected cell is
kept in the executed notebook), through the TypeScript translator of scripts/papermill-tslab; nbclient
(Debian's python3-nbclient, no papermill) runs them as they are, the profile coming from LTL_PROFILE.

For each notebook: the executed .ipynb and an HTML export go to the reports folder, and an index.html
links them. A failing cell stops the run with exit status 1 and shows what failed: tslab reports
errors on the cell's stderr stream (nbclient's own CellExecutionError message is then empty), so we
print the cell, its stderr/error outputs, and the tail of the kernel process's own stderr.

Run through scripts/reproduce.sh (it builds, installs the kernel spec and sets JUPYTER_PATH).
"""
import argparse
import datetime
import html
import json
import os
import re
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter


# A copy of the terminal's stderr: while papermill runs a kernel, fd 2 points at the kernel's log.
LOG = os.fdopen(os.dup(2), 'w')


def log(msg):
    print(msg, file=LOG, flush=True)


def cell_failure_text(cell):
    """The useful text of a failed cell: its stderr stream and error outputs."""
    parts = []
    for out in cell.get('outputs', []):
        if out.get('output_type') == 'stream' and out.get('name') == 'stderr':
            parts.append(out.get('text', ''))
        elif out.get('output_type') == 'error':
            tb = '\n'.join(out.get('traceback') or [])
            parts.append(tb or f"{out.get('ename', '')}: {out.get('evalue', '')}")
    return ''.join(parts).strip()


def tail(path, n=60):
    try:
        with open(path, 'r', errors='replace') as f:
            lines = f.readlines()
        return ''.join(lines[-n:]).strip()
    except OSError:
        return ''


# Cells papermill adds: the injected parameters and, after a failure, red markers. Cell numbers in
# messages count the notebook's own cells only, as they are in the file.
PAPERMILL_TAGS = ('injected-parameters', 'papermill-error-cell-tag')


def own_cells(nb):
    return [c for c in nb.cells if not set(c.get('metadata', {}).get('tags', [])) & set(PAPERMILL_TAGS)]


def have_papermill():
    try:
        import papermill  # noqa: F401
        from papermill.translators import papermill_translators
        papermill_translators.find_translator('tslab', 'typescript')
        return True
    except Exception:
        return False


def execute_papermill(path, out_ipynb, kernel, timeout, profile, hooks, kernel_stderr):
    """papermill.execute_notebook with profileName as parameter; returns (notebook, error or None)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError
    error = None
    if os.path.exists(out_ipynb):  # not an earlier run's notebook if this one fails to start
        os.remove(out_ipynb)
    # The kernel process inherits our stderr: point fd 2 at the log for the run (our own messages
    # go to a saved copy of the terminal's stderr, see log()).
    saved = os.dup(2)
    os.dup2(kernel_stderr.fileno(), 2)
    try:
        papermill.execute_notebook(
            path, out_ipynb, parameters={'profileName': profile}, kernel_name=kernel,
            cwd=os.path.dirname(os.path.abspath(path)), progress_bar=False, log_output=False,
            execution_timeout=timeout, request_save_on_cell_execute=True, record_timing=True,
            on_cell_execute=hooks[0], on_cell_executed=hooks[1])
    except (PapermillExecutionError, CellTimeoutError, DeadKernelError) as e:
        error = e
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    # papermill saves after every cell, so a run stopped by a timeout or a dead kernel left its progress.
    return nbformat.read(out_ipynb if os.path.exists(out_ipynb) else path, as_version=4), error


def run_one(path, out_dir, kernel, timeout, profile, engine='nbclient'):
    name = os.path.splitext(os.path.basename(path))[0]
    nb = nbformat.read(path, as_version=4)
    # papermill's injected parameters cell runs too
    n_code = sum(c.cell_type == 'code' for c in nb.cells) + (engine == 'papermill')
    stderr_path = os.path.join(out_dir, f'{name}.kernel-stderr.log')
    state = {'i': 0, 't': time.time()}

    def on_start(cell, cell_index, **_):
        state['t'] = time.time()

    def on_complete(cell, cell_index, execute_reply=None, **_):
        if cell.cell_type != 'code':
            return
        # nbclient 0.11 (papermill's) takes the count only from execute_input messages, which tslab
        # does not send; its execute reply has it.
        count = ((execute_reply or {}).get('content') or {}).get('execution_count')
        if cell.get('execution_count') is None and count:
            cell['execution_count'] = count
        state['i'] += 1
        log(f"  [{name}] cell {state['i']}/{n_code} (#{cell_index}) {time.time() - state['t']:.1f}s")

    t0 = time.time()
    error = None
    out_ipynb = os.path.join(out_dir, f'{name}.ipynb')
    with open(stderr_path, 'w') as kernel_stderr:
        if engine == 'papermill':
            nb, error = execute_papermill(path, out_ipynb, kernel, timeout, profile, (on_start, on_complete), kernel_stderr)
        else:
            client = NotebookClient(
                nb, kernel_name=kernel, timeout=timeout, allow_errors=False,
                resources={'metadata': {'path': os.path.dirname(os.path.abspath(path))}},
                record_timing=True,
            )
            client.on_cell_execute = on_start
            client.on_cell_executed = on_complete
            try:
                client.execute(stderr=kernel_stderr)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
                error = e
    seconds = time.time() - t0
    nb.metadata.setdefault('ltl', {})
    nb.metadata['ltl'].update({'profile': profile, 'seconds': round(seconds, 1), 'engine': engine,
                               'executed': datetime.datetime.now().isoformat(timespec='seconds')})
    nbformat.write(nb, out_ipynb)
    body, _ = HTMLExporter().from_notebook_node(nb)
    # Links between notebooks point at the sibling reports in the HTML export.
    body = re.sub(r'href="(\d\d-[\w-]+)\.ipynb"', r'href="\1.html"', body)
    with open(os.path.join(out_dir, f'{name}.html'), 'w') as f:
        f.write(body)
    failure = None
    if error is not None:
        cells = own_cells(nb)
        failed = None
        for idx, c in enumerate(cells):
            if c.cell_type == 'code' and (any(o.get('output_type') == 'error' for o in c.get('outputs', []))
                                          or c.get('metadata', {}).get('papermill', {}).get('exception') is True):
                failed = (idx, c)
        if failed is None:  # tslab: error only on stderr; the failing cell is the last one that ran
            ran = [(i, c) for i, c in enumerate(cells) if c.cell_type == 'code' and c.get('execution_count')]
            failed = ran[-1] if ran else (None, None)
        idx, cell = failed
        text = cell_failure_text(cell) if cell is not None else ''
        failure = {
            'cell': idx,
            'source': cell.source if cell is not None else '',
            'error': text or str(error).strip() or type(error).__name__,
            'kernel_stderr': tail(stderr_path),
        }
    return {'name': name, 'seconds': seconds, 'failure': failure,
            'title': notebook_title(nb) or name}


def notebook_title(nb):
    for c in nb.cells:
        if c.cell_type == 'markdown':
            for line in c.source.splitlines():
                if line.startswith('# '):
                    return line[2:].strip()
    return None


def previous_results(out_dir, profile):
    """Entries of an earlier summary.json of the same profile whose reports still exist."""
    try:
        with open(os.path.join(out_dir, 'summary.json')) as fh:
            old = json.load(fh)
    except (OSError, ValueError):
        return []
    if old.get('profile') != profile:
        return []
    return [dict(n, title=n.get('title') or n['name']) for n in old.get('notebooks', [])
            if os.path.exists(os.path.join(out_dir, n['name'] + '.html'))]


def write_index(out_dir, results, profile):
    rows = []
    for r in results:
        status = 'FAILED' if r['failure'] else 'ok'
        rows.append(
            f"<tr><td><a href='{html.escape(r['name'])}.html'>{html.escape(r['title'])}</a></td>"
            f"<td><a href='{html.escape(r['name'])}.ipynb'>{html.escape(r['name'])}.ipynb</a></td>"
            f"<td>{r['seconds']:.0f} s</td><td class='{status.lower()}'>{status}</td></tr>")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Learning to Look: reports</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .8em}} .failed{{color:#b00;font-weight:bold}} .ok{{color:#070}}</style>
</head><body>
<h1>Learning to Look: executed notebooks</h1>
<p>Profile <b>{html.escape(profile)}</b>, generated {datetime.datetime.now().isoformat(timespec='seconds')}.
Each report is a self-contained HTML page (plots are interactive; images are embedded).</p>
<table><tr><th>report</th><th>notebook</th><th>time</th><th>status</th></tr>
{''.join(rows)}
</table></body></html>
"""
    with open(os.path.join(out_dir, 'index.html'), 'w') as f:
        f.write(page)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--notebooks', default='notebooks')
    ap.add_argument('--out', default='reports')
    ap.add_argument('--kernel', default='tslab')
    ap.add_argument('--timeout', type=int, default=3600, help='seconds per cell')
    ap.add_argument('--only', default=os.environ.get('LTL_NOTEBOOKS', ''),
                    help='comma-separated name prefixes, e.g. 00,01 (env LTL_NOTEBOOKS)')
    ap.add_argument('--keep-going', action='store_true', help='run the remaining notebooks after a failure')
    ap.add_argument('--engine', choices=('auto', 'papermill', 'nbclient'), default=os.environ.get('LTL_ENGINE', 'auto'),
                    help='papermill (profile as parameter) or plain nbclient; auto: papermill where installed (env LTL_ENGINE)')
    args = ap.parse_args()
    engine = args.engine
    if engine == 'auto':
        engine = 'papermill' if have_papermill() else 'nbclient'
    elif engine == 'papermill' and not have_papermill():
        log('papermill with the tslab translator is not installed for this python (bash scripts/setup-jupyter.sh)')
        return 2
    profile = os.environ.get('LTL_PROFILE', 'standard')
    os.makedirs(args.out, exist_ok=True)
    names = sorted(f for f in os.listdir(args.notebooks) if f.endswith('.ipynb') and not f.startswith('.'))
    if args.only:
        prefixes = [p.strip() for p in args.only.split(',') if p.strip()]
        names = [n for n in names if any(n.startswith(p) for p in prefixes)]
    if not names:
        log(f'no notebooks to run in {args.notebooks}')
        return 1
    results = []
    t0 = time.time()
    for n in names:
        log(f'[run] {n} (profile {profile}, {engine})')
        r = run_one(os.path.join(args.notebooks, n), args.out, args.kernel, args.timeout, profile, engine)
        results.append(r)
        log(f"[run] {n}: {'FAILED' if r['failure'] else 'ok'} in {r['seconds']:.1f}s")
        if r['failure']:
            f = r['failure']
            log(f"\n===== {n}: cell #{f['cell']} failed =====\n--- source ---\n{f['source']}\n"
                f"--- error ---\n{f['error']}\n")
            if f['kernel_stderr']:
                log(f"--- kernel stderr (tail) ---\n{f['kernel_stderr']}\n")
            if not args.keep_going:
                break
    # A partial run (--only) keeps the other notebooks' entries of an earlier run of the same profile.
    merged = {r['name']: r for r in previous_results(args.out, profile)}
    merged.update({r['name']: r for r in results})
    everything = [merged[k] for k in sorted(merged)]
    write_index(args.out, everything, profile)
    with open(os.path.join(args.out, 'summary.json'), 'w') as fh:
        json.dump({'profile': profile, 'seconds': round(time.time() - t0, 1),
                   'notebooks': [{k: r[k] for k in ('name', 'title', 'seconds', 'failure')} for r in everything]}, fh, indent=1)
    failed = [r['name'] for r in results if r['failure']]
    log(f"[run] {len(results)} notebook(s) in {time.time() - t0:.0f}s; reports in {args.out}/index.html"
        + (f"; FAILED: {', '.join(failed)}" if failed else ''))
    return 1 if failed or len(results) < len(names) else 0


if __name__ == '__main__':
    sys.exit(main())

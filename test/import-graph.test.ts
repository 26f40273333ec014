import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/**
 * The shape of lib/: its folders form a pipeline, each importing only folders before it (or itself), and no module
 * imports itself back through others. Ranks, from the imports the folders have:
 *   util < backend < data, counterfactual < maps < vlm < models < attention < losses < engines < train < evaluate
 *   < report < experiments < cli < lib/index.ts
 * (vlm provides map sources to lib/maps through registration, lib/vlm/register.ts; report draws what evaluate measures;
 * experiments composes everything for the notebooks). Every import counts for the ranks, type-only ones included, and
 * dynamic import() too; cycles are looked for among the imports that load code (type-only imports are erased).
 */
const RANKS: Record<string, number> = {
  util: 0, backend: 1, data: 2, counterfactual: 2, maps: 3, vlm: 4, models: 5, attention: 6, losses: 7, engines: 8,
  train: 9, evaluate: 10, diagnose: 10, report: 11, experiments: 12, cli: 13, 'index.ts': 14,
};
const LIB = path.join(__dirname, '..', 'lib');

interface Edge { from: string; to: string; typeOnly: boolean }

function libFiles(dir = LIB): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? libFiles(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function resolve(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  return [`${base}.ts`, path.join(base, 'index.ts')].find((p) => fs.existsSync(p));
}

/** Relative imports of a file: static (with whether they are type-only), re-exports, import() and require(). */
function imports(file: string): Edge[] {
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: Edge[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    if (!spec.startsWith('.')) return;
    const to = resolve(file, spec);
    assert.ok(to, `${path.relative(LIB, file)} imports '${spec}', which does not resolve`);
    out.push({ from: file, to: to!, typeOnly });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings)
        && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(n.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      add(n.moduleSpecifier.text, n.isTypeOnly);
    } else if (ts.isCallExpression(n) && (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require'))) {
      const arg = n.arguments[0];
      if (arg && ts.isStringLiteral(arg)) add(arg.text, false);
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

const folderOf = (file: string) => path.relative(LIB, file).split(path.sep)[0];
const edges = libFiles().flatMap(imports);

test('lib folders import only folders before them in the pipeline (no upward arrow)', () => {
  const folders = new Set(libFiles().map(folderOf));
  for (const f of folders) assert.ok(f in RANKS, `lib/${f} has no rank: place it in the pipeline (RANKS)`);
  const upward = edges.filter((e) => RANKS[folderOf(e.to)] > RANKS[folderOf(e.from)])
    .map((e) => `${path.relative(LIB, e.from)} -> ${path.relative(LIB, e.to)}`);
  assert.deepEqual(upward, []);
});

test('lib has no import cycle among the imports that load code', () => {
  const next = new Map<string, string[]>();
  for (const e of edges) if (!e.typeOnly) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  // Tarjan's strongly connected components: a component of more than one module (or a self-import) is a cycle.
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>();
  const cycles: string[][] = [];
  const connect = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); on.add(v);
    for (const w of next.get(v) ?? []) {
      if (!idx.has(w)) { connect(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const c: string[] = [];
      let w: string;
      do { w = stack.pop()!; on.delete(w); c.push(path.relative(LIB, w)); } while (w !== v);
      if (c.length > 1 || (next.get(v) ?? []).includes(v)) cycles.push(c.sort());
    }
  };
  for (const f of libFiles()) if (!idx.has(f)) connect(f);
  assert.deepEqual(cycles, []);
});

test('lib loads its own modules by literal path only (no string-table require the type checker cannot see)', () => {
  const found: string[] = [];
  for (const file of libFiles()) {
    const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require'))) {
        const arg = n.arguments[0];
        const literal = arg && (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg));
        // lib/backend/select.ts probes optional tfjs backends by package name (not our modules)
        if (!literal && path.relative(LIB, file) !== path.join('backend', 'select.ts')) found.push(`${path.relative(LIB, file)}: ${n.getText(src).slice(0, 60)}`);
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  assert.deepEqual(found, []);
});

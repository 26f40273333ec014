import * as fs from 'node:fs';
import * as path from 'node:path';

/** The folder that holds package.json of this project, found upwards from this file (works from dist/ too). */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'learning-to-look') return dir;
      } catch { /* keep looking */ }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the learning-to-look package root above ${__dirname}`);
    dir = up;
  }
}

#!/usr/bin/env node
'use strict';
// The CLI runs the compiled library (npm install builds it via the `prepare` script).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('ltl: the library is not built yet: run `npm run build` in ' + path.join(__dirname, '..') + '\n');
  process.exit(2);
}
require(entry).main();

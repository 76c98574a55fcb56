// mermaid-check parses Mermaid diagrams with mermaid's own parser, headless
// (jsdom stands in for the browser DOM its sanitizer needs). It reads a JSON
// array of diagram texts on stdin and prints a JSON array of results, one
// per diagram: {"ok": true, "type": "flowchart-v2"} or {"ok": false,
// "error": "Parse error on line 3: ..."}. MERMAID_DIR is the npm prefix
// that scripts/deps/mermaid.sh installs mermaid and jsdom into.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.env.MERMAID_DIR;
if (!dir) {
  console.error('mermaid-check: set MERMAID_DIR to the prefix of scripts/deps/mermaid.sh');
  process.exit(2);
}
const req = createRequire(join(dir, 'package.json'));
const { JSDOM } = req('jsdom');
const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const mermaid = (await import(pathToFileURL(req.resolve('mermaid')).href)).default;

let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    const r = await mermaid.parse(text);
    results.push({ ok: true, type: r.diagramType });
  } catch (e) {
    results.push({ ok: false, error: String(e && e.message ? e.message : e) });
  }
}
console.log(JSON.stringify(results));

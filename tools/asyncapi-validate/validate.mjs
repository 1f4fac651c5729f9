// Validate AsyncAPI documents with the official parser (@asyncapi/parser).
// Usage: node validate.mjs <document.json> [...]
// Prints every diagnostic; exits 1 if any has error severity or a document does not parse.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

async function validate(parser, file) {
  const path = resolve(file);
  const text = await readFile(path, 'utf8');
  const { document, diagnostics } = await parser.parse(text, { source: path });
  let errors = 0;
  for (const d of diagnostics) {
    const where = d.path && d.path.length ? d.path.join('.') : '(root)';
    console.log(`${file}: ${SEVERITY[d.severity] ?? d.severity} ${d.code}: ${d.message} at ${where}`);
    if (d.severity === DiagnosticSeverity.Error) errors += 1;
  }
  if (!document) errors = Math.max(errors, 1);
  if (errors === 0) {
    const channels = document.channels().length;
    const messages = document.components().messages().length;
    console.log(`${file}: valid AsyncAPI ${document.version()} (${channels} channels, ${messages} messages)`);
  }
  return errors;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate.mjs <asyncapi.json> [...]');
  process.exit(2);
}
const parser = new Parser();
let failed = 0;
for (const file of files) failed += await validate(parser, file);
process.exit(failed ? 1 : 0);

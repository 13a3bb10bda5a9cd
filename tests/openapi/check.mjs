// check.mjs — the OpenAPI side of tests/system/test_openapi.py.
//
//   node check.mjs SPEC                 validate SPEC (OpenAPI 3.1, YAML)
//                                       with @apidevtools/swagger-parser;
//                                       print it dereferenced, as JSON
//   node check.mjs SPEC SAMPLES.json    also validate each sample answer
//                                       body against the schema SPEC gives
//                                       for its operation, status and
//                                       content type (ajv, JSON Schema
//                                       2020-12); print the failures
//
// A sample is {"method", "path" (the SPEC's path template), "status",
// "content_type" (without parameters), "body" (parsed JSON)}. Exit status
// 0 when SPEC is valid (and every sample matches), 1 otherwise; the
// reasons go to stdout as JSON {"error"} or {"failures": [...]}.
import { readFileSync, writeSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';

const [specPath, samplesPath] = process.argv.slice(2);
// Written at once: process.exit() would cut an asynchronous pipe write.
const say = (doc) => writeSync(1, JSON.stringify(doc) + '\n');
if (!specPath) {
  console.error('usage: node check.mjs SPEC [SAMPLES.json]');
  process.exit(2);
}

let api;
try {
  // validate() checks the document against the OpenAPI 3.1 schema and
  // resolves every $ref; it returns the dereferenced document.
  api = await SwaggerParser.validate(specPath);
} catch (e) {
  say({ error: String(e.message || e) });
  process.exit(1);
}
if (!samplesPath) {
  say(api);
  process.exit(0);
}

// OpenAPI's own keywords (example, ...) are not JSON Schema's: not strict.
// Formats (date-time) are documentation here, not checked.
const ajv = new Ajv2020({ strict: false, validateFormats: false,
  allErrors: true });
const compiled = new Map();
const failures = [];
for (const s of JSON.parse(readFileSync(samplesPath, 'utf8'))) {
  const op = api.paths[s.path]?.[s.method.toLowerCase()];
  const media = op?.responses?.[String(s.status)]?.content?.[s.content_type];
  if (!media) {
    failures.push({ ...s, body: undefined, why: 'not described' });
    continue;
  }
  if (!media.schema)
    continue;
  const key = `${s.method} ${s.path} ${s.status} ${s.content_type}`;
  if (!compiled.has(key))
    compiled.set(key, ajv.compile(media.schema));
  const validate = compiled.get(key);
  if (!validate(s.body))
    failures.push({ method: s.method, path: s.path, status: s.status,
      content_type: s.content_type, why: validate.errors,
      body: JSON.stringify(s.body).slice(0, 400) });
}
say({ failures });
process.exit(failures.length ? 1 : 0);

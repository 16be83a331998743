#!/usr/bin/env node
// The PouchDB peer: a PouchDB database on LevelDB at the clinic,
// replicating over HTTP on 127.0.0.1 to express-pouchdb (PouchDB's own
// CouchDB-compatible server, on LevelDB too) standing in for the archive.
// Prints one JSON line.
//
//   node pouchdb.js [N]  (N documents, default 10000; the packages of
//                         package.json beside this file found through
//                         NODE_PATH, as run-peers sets it)
//
// The workload is the records tools/bench/sync imports: N patients of
// 360 bytes of JSON each with its _id (the same fields and values), written
// in bulk batches of 1,000; pushed to the server; pulled whole by a fresh
// database; then 100 more written and pushed (five rounds, the median).
//
//   write_s, write_docs_per_s   the N documents into the clinic's database
//   push_s, push_docs_per_s     its first replication to the server
//   pull_s, pull_docs_per_s     a fresh database's replication from it
//   incr100_push_s              100 more, replicated to the server
//
// Replication runs with batch_size 500 (PouchDB's default is 100): on a
// 2-core machine 100, 500 and 1,000 gave figures within each other's
// noise (other work shared the cores), so the middle one.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const WRITE_BATCH = 1000;
const REPLICATION_BATCH = 500;
const INCR = 100;
const INCR_ROUNDS = 5;

const n = Number(process.argv[2] || 10000);
if (!Number.isInteger(n) || n < 1) {
  process.stderr.write('usage: node pouchdb.js [N]   (N documents, a whole number from 1)\n');
  process.exit(1);
}

let PouchDB, express, expressPouchDB;
try {
  PouchDB = require('pouchdb');
  express = require('express');
  expressPouchDB = require('express-pouchdb');
} catch (e) {
  process.stderr.write(`pouchdb peer: cannot load PouchDB (run tools/dev/peers-deps and set NODE_PATH to its node_modules): ${e.message}\n`);
  process.exit(2);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'chartsync-peer-pouchdb-'));
let server = null;

function cleanup() {
  if (server)
    server.close();
  fs.rmSync(work, { recursive: true, force: true });
}

function fail(msg) {
  process.stderr.write(`pouchdb peer: ${msg}\n`);
  cleanup();
  process.exit(2);
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (v) => v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)];
const pad = (x, w) => String(x).padStart(w, '0');
const version = (pkg) => require(`${pkg}/package.json`).version;

// patient i, with the fields and values of tools/bench/workload.c's
// bench_write_patients, so a document is the size of a chartsync record
function patient(i) {
  return {
    _id: `patient-${pad(i, 8)}`,
    type: 'patient',
    fields: {
      name: `Patient ${pad(i, 7)} Testperson`,
      dob: `19${pad(30 + i % 70, 2)}-${pad(1 + i % 12, 2)}-${pad(1 + i % 28, 2)}`,
      sex: i % 2 ? 'F' : 'M',
      mrn: `MRN-${pad(i, 8)}`,
      phone: `555-${pad(i % 10000, 4)}`,
      address: `${100 + i % 9000} Long Country Road, Apartment ${i % 300}, Smallville, ` +
        `Some County, ST 0${pad(i % 10000, 4)}, United States of America`,
      payer: 'Regional Health Cooperative Insurance Plan',
      member_id: `RHC-${pad(i * 7919, 10)}-${pad(i % 9999, 4)}`,
    },
  };
}

async function write(db, first, count) {
  for (let i = first; i < first + count; i += WRITE_BATCH) {
    const docs = [];
    for (let j = i; j < Math.min(first + count, i + WRITE_BATCH); j++)
      docs.push(patient(j));
    const res = await db.bulkDocs(docs);
    const bad = res.find((r) => r.error);
    if (bad)
      fail(`writing ${bad.id} failed: ${bad.reason || bad.error}`);
  }
}

async function replicate(from, to, expect, what) {
  const res = await PouchDB.replicate(from, to, { batch_size: REPLICATION_BATCH });
  if (res.status !== 'complete' || res.doc_write_failures > 0 || res.docs_written !== expect)
    fail(`${what}: ${res.docs_written} documents written, ${res.doc_write_failures} failed, not ${expect}`);
}

function listen(app) {
  return new Promise((resolve, reject) => {
    server = app.listen(0, '127.0.0.1', () => resolve(server.address().port));
    server.on('error', reject);
  });
}

async function main() {
  fs.mkdirSync(path.join(work, 'server'));
  // the server's databases, its configuration and its log all in the
  // temporary folder (express-pouchdb writes config.json and log.txt in
  // the working folder unless told)
  const ServerDB = PouchDB.defaults({ prefix: path.join(work, 'server') + path.sep });
  const app = express();
  app.use('/', expressPouchDB(ServerDB, {
    mode: 'minimumForPouchDB',
    configPath: path.join(work, 'config.json'),
    logPath: path.join(work, 'log.txt'),
  }));
  const port = await listen(app);
  const url = `http://127.0.0.1:${port}/archive`;

  const clinic = new PouchDB(path.join(work, 'clinic'));
  let t = now();
  await write(clinic, 0, n);
  const writeS = now() - t;

  const remote = new PouchDB(url);
  t = now();
  await replicate(clinic, remote, n, 'the push');
  const pushS = now() - t;

  const fresh = new PouchDB(path.join(work, 'fresh'));
  t = now();
  await replicate(remote, fresh, n, 'the pull');
  const pullS = now() - t;
  if ((await fresh.info()).doc_count !== n)
    fail(`the fresh database holds ${(await fresh.info()).doc_count} documents, not ${n}`);

  const pushes = [];
  for (let round = 0; round < INCR_ROUNDS; round++) {
    await write(clinic, n + round * INCR, INCR);
    t = now();
    await replicate(clinic, remote, INCR, 'an incremental push');
    pushes.push(now() - t);
  }

  const r = (x) => Math.round(x * 10000) / 10000;
  console.log(JSON.stringify({
    peer: `pouchdb ${version('pouchdb')} (leveldb) to express-pouchdb ${version('express-pouchdb')}` +
      ` on express ${version('express')}, node ${process.versions.node}, http`,
    N: n,
    write_s: r(writeS),
    write_docs_per_s: Math.round(n / writeS),
    push_s: r(pushS),
    push_docs_per_s: Math.round(n / pushS),
    pull_s: r(pullS),
    pull_docs_per_s: Math.round(n / pullS),
    incr100_push_s: r(median(pushes)),
  }));
  await Promise.all([clinic.close(), fresh.close(), remote.close()]);
  cleanup();
  process.exit(0);
}

process.on('SIGTERM', () => fail('stopped'));
process.on('SIGINT', () => fail('stopped'));
main().catch((e) => fail(e.stack || String(e)));

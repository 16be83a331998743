#!/usr/bin/env node
// The git peer: git's own command line moving the sync benchmark's
// workload through `git daemon` on 127.0.0.1 (git://), as chartsync's
// archive is served in tools/bench/sync. Prints one JSON line.
//
//   node git.js [N]      (N changes, default 10000)
//
// The workload: N files of 400 random bytes (incompressible, as a
// chartsync change is once sealed), 1,000 to a folder and one commit per
// folder, in a working repository; pushed to a bare archive; fetched whole
// by a fresh repository; then 100 more in one commit, pushed (five rounds,
// the median: one push of 100 is tens of milliseconds, mostly fsync and
// process start, which vary more than that on a shared machine).
//
//   commit_s             git add + git commit of the N files (not in push_s)
//   push_s               the first push of all N (git push over git://)
//   push_changes_per_s   N / push_s
//   fetch_fresh_s        a fresh repository's fetch of everything
//   fetch_changes_per_s  N / fetch_fresh_s
//   incr100_commit_s     add + commit of 100 more (median of five rounds)
//   incr100_push_s       their push (median of five rounds)
//
// Needs only git and Node.js (no package): the random files are written
// here, untimed.
'use strict';
const { execFileSync, spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const PER_COMMIT = 1000;
const CHANGE_BYTES = 400;
const INCR = 100;
const INCR_ROUNDS = 5;

const n = Number(process.argv[2] || 10000);
if (!Number.isInteger(n) || n < 1) {
  process.stderr.write('usage: node git.js [N]   (N changes, a whole number from 1)\n');
  process.exit(1);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'chartsync-peer-git-'));
let daemon = null;

function cleanup() {
  if (daemon && daemon.exitCode === null)
    daemon.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
}

function fail(msg) {
  process.stderr.write(`git peer: ${msg}\n`);
  cleanup();
  process.exit(2);
}

// git with its output kept for the caller; a failure ends the run with
// git's own message
function git(cwd, ...args) {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    fail(`git ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
  }
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (v) => v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)];

// a port the kernel just handed out and took back: git daemon binds it next
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function answers(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('connect', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

async function startDaemon(port) {
  daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', '--enable=receive-pack',
    '--listen=127.0.0.1', `--port=${port}`, `--base-path=${work}`, work],
  { stdio: ['ignore', 'ignore', 'ignore'] });
  daemon.on('error', (e) => fail(`cannot start git daemon: ${e.message}`));
  for (let i = 0; i < 200; i++) {
    if (daemon.exitCode !== null)
      fail(`git daemon stopped at once (exit ${daemon.exitCode}); is port ${port} taken?`);
    if (await answers(port))
      return;
    await new Promise((r) => setTimeout(r, 20));
  }
  fail(`git daemon did not answer on 127.0.0.1:${port}`);
}

function writeChanges(dir, first, count) {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = first; i < first + count; i++)
    fs.writeFileSync(path.join(dir, `${String(i).padStart(8, '0')}.chg`),
      crypto.randomBytes(CHANGE_BYTES));
}

async function main() {
  const archive = path.join(work, 'archive.git');
  const clinic = path.join(work, 'clinic');
  const fresh = path.join(work, 'fresh');
  const ref = 'refs/heads/clinic';

  git(work, 'init', '-q', '--bare', archive);
  const port = await freePort();
  await startDaemon(port);
  const url = `git://127.0.0.1:${port}/archive.git`;

  git(work, 'init', '-q', clinic);
  git(clinic, 'config', 'user.name', 'peer');
  git(clinic, 'config', 'user.email', 'peer@localhost');
  // a signing key set in a person's own configuration would time gpg too
  git(clinic, 'config', 'commit.gpgsign', 'false');
  const folders = [];
  for (let first = 0; first < n; first += PER_COMMIT) {
    const name = `batch-${String(first / PER_COMMIT).padStart(6, '0')}`;
    writeChanges(path.join(clinic, name), first, Math.min(PER_COMMIT, n - first));
    folders.push(name);
  }

  let t = now();
  for (const name of folders) {
    git(clinic, 'add', name);
    git(clinic, 'commit', '-q', '-m', name);
  }
  const commitS = now() - t;

  t = now();
  git(clinic, 'push', '-q', url, `HEAD:${ref}`);
  const pushS = now() - t;

  git(work, 'init', '-q', '--bare', fresh);
  t = now();
  git(fresh, 'fetch', '-q', url, `${ref}:${ref}`);
  const fetchS = now() - t;
  // what was fetched is what was written: the same commit, and N files in it
  const head = git(clinic, 'rev-parse', 'HEAD').trim();
  if (git(fresh, 'rev-parse', ref).trim() !== head)
    fail('the fresh repository fetched another commit than the one pushed');
  const files = git(fresh, 'ls-tree', '-r', '--name-only', ref).split('\n').filter(Boolean);
  if (files.length !== n)
    fail(`the fresh repository holds ${files.length} changes, not ${n}`);

  const commits = [], pushes = [];
  for (let round = 0; round < INCR_ROUNDS; round++) {
    const name = `incr-${round}`;
    writeChanges(path.join(clinic, name), n + round * INCR, INCR);
    t = now();
    git(clinic, 'add', name);
    git(clinic, 'commit', '-q', '-m', name);
    commits.push(now() - t);
    t = now();
    git(clinic, 'push', '-q', url, `HEAD:${ref}`);
    pushes.push(now() - t);
  }
  if (git(archive, 'rev-parse', ref).trim() !== git(clinic, 'rev-parse', 'HEAD').trim())
    fail('the archive does not hold the last incremental push');

  const version = git(work, '--version').trim().replace(/^git version /, '');
  const r = (x) => Math.round(x * 10000) / 10000;
  console.log(JSON.stringify({
    peer: `git ${version} (git daemon, git://)`,
    N: n,
    commit_s: r(commitS),
    push_s: r(pushS),
    push_changes_per_s: Math.round(n / pushS),
    fetch_fresh_s: r(fetchS),
    fetch_changes_per_s: Math.round(n / fetchS),
    incr100_commit_s: r(median(commits)),
    incr100_push_s: r(median(pushes)),
  }));
  cleanup();
}

process.on('SIGTERM', () => fail('stopped'));
process.on('SIGINT', () => fail('stopped'));
main().catch((e) => fail(e.stack || String(e)));

#!/usr/bin/env node
'use strict';
/*
 * ms_parser_times.js: reference timings for Microsoft's KQL parser (Kusto.Language,
 * npm @kusto/language-service-next 12.4.1) on the corpus our own parser is benchmarked on.
 *
 * Measures, per query of /work/shared/corpus/queries-dev.jsonl (fields: id, query):
 *   Parse           KustoCode.Parse(text, GlobalState.Default)            syntax only, no binding
 *   ParseAndAnalyze KustoCode.ParseAndAnalyze(text, GlobalState.Default)  parse + semantic analysis
 * Wall-clock time of the single call, via process.hrtime.bigint(). Library loading and the
 * warm-up (both calls on the first WARMUP queries, default all, untimed) are excluded. All queries are then timed
 * again: one pass of Parse over the whole corpus, then one pass of ParseAndAnalyze.
 * Prints the query count and median / p90 / max / total ms for each. Queries that throw are
 * counted, listed on stderr and left out of the statistics.
 *
 * Run (from the repo root):
 *   mkdir -p /tmp/kqlcheck-run && cp ../shared/tools/kqlcheck/package*.json /tmp/kqlcheck-run/
 *   (cd /tmp/kqlcheck-run && npm ci)
 *   node bench/ms_parser_times.js [CORPUS.jsonl]
 * Env: KUSTO_NODE_MODULES (default /tmp/kqlcheck-run/node_modules).
 */
const fs = require('fs');
const path = require('path');

const NODE_MODULES = process.env.KUSTO_NODE_MODULES || '/tmp/kqlcheck-run/node_modules';
const CORPUS = process.argv[2] || '/work/shared/corpus/queries-dev.jsonl';
// Warm up on the whole corpus by default (V8 keeps optimising well past the first queries), as bench/parse.py does.
const WARMUP = Number(process.env.WARMUP || Infinity);

function loadKusto(nodeModules) {
  const dir = path.join(nodeModules, '@kusto', 'language-service-next');
  require(path.join(dir, 'bridge.min.js'));                // Bridge.NET runtime (sets globals)
  require(path.join(dir, 'Kusto.Language.Bridge.min.js')); // sets global Kusto.Language
  return global.Kusto.Language;
}

function readCorpus(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim())
    .map((l) => JSON.parse(l)).filter((r) => typeof r.query === 'string');
}

// Times fn(text) for every record; returns {ms: [...], failed: [[id, message], ...]}.
function timeAll(records, fn) {
  const ms = [], failed = [];
  for (const r of records) {
    const t0 = process.hrtime.bigint();
    try { fn(r.query); } catch (e) { failed.push([r.id, String(e && e.message || e)]); continue; }
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms, failed };
}

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b), n = s.length;
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const p90 = s[Math.max(0, Math.ceil(0.9 * n) - 1)];            // nearest-rank
  return { median, p90, max: s[n - 1], total: s.reduce((a, b) => a + b, 0) };
}

function report(name, { ms, failed }) {
  const st = stats(ms), f = (x) => x.toFixed(3);
  console.log(`${name.padEnd(16)} n=${ms.length}  median=${f(st.median)}  p90=${f(st.p90)}  ` +
    `max=${f(st.max)}  total=${f(st.total)}  (ms)${failed.length ? `  threw=${failed.length}` : ''}`);
  for (const [id, msg] of failed) console.error(`  ${name} threw on ${id}: ${msg}`);
}

function main() {
  const K = loadKusto(NODE_MODULES);
  const globals = K.GlobalState.Default;
  const records = readCorpus(CORPUS);
  const parse = (t) => K.KustoCode.Parse(t, globals);
  const analyze = (t) => K.KustoCode.ParseAndAnalyze(t, globals);
  for (const r of records.slice(0, WARMUP)) {
    try { parse(r.query); analyze(r.query); } catch (e) { /* reported in the timed pass */ }
  }
  console.log(`queries: ${records.length}  (corpus ${CORPUS}, warm-up ${Math.min(WARMUP, records.length)}, ` +
    `node ${process.version}, Kusto.Language from ${NODE_MODULES})`);
  report('Parse', timeAll(records, parse));
  report('ParseAndAnalyze', timeAll(records, analyze));
}

main();

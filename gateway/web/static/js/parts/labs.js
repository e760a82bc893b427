// Lab results by test: the latest value with its flag, and a trend chart when repeated.
import { h } from '../dom.js';
import { date } from '../format.js';
import { label, t } from '../i18n.js';
import { badge, body, card, coding, provenance } from './cards.js';
import { trendChart } from './charts.js';

const FLAG = { NORMAL: 'ok', LOW: 'warn', HIGH: 'bad', ABNORMAL: 'bad' };
const MARK = { NORMAL: '', LOW: '↓ ', HIGH: '↑ ', ABNORMAL: '! ' };

export function flagBadge(flag) {
  if (!flag) return null;
  return badge(FLAG[flag], `${MARK[flag]}${label('flag', flag)}`);
}

/** Results grouped by test code, newest first within each, tests by latest result. */
export function byTest(results) {
  const groups = new Map();
  for (const result of results) {
    const key = result.test.code;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(result);
  }
  const newestFirst = (a, b) => (b.resultedAt || '').localeCompare(a.resultedAt || '');
  return [...groups.values()].map((list) => list.sort(newestFirst)).sort((a, b) => newestFirst(a[0], b[0]));
}

function testBlock(results) {
  const latest = results[0];
  const numeric = results.filter((r) => r.numericValue !== null && r.resultedAt).reverse();
  const title = latest.test.display || latest.test.code;
  return h('li', { class: 'lab-test', 'data-test': latest.test.code },
    h('h3', {}, coding(latest.test)),
    h('p', {}, h('span', { class: 'value' }, `${latest.value}${latest.unit ? ` ${latest.unit}` : ''}`), ' ',
      flagBadge(latest.flag), ' ',
      latest.referenceRange ? h('span', {}, t('lab.range', { range: latest.referenceRange })) : null,
      h('span', { class: 'provenance' }, date(latest.resultedAt))),
    numeric.length >= 2 ? trendChart(numeric.map((r) => ({ at: r.resultedAt, value: r.numericValue })), latest.referenceRange, latest.unit, title) : null,
    results.length > 1
      ? h('details', {}, h('summary', {}, t('lab.history', { count: results.length })),
        h('ul', {}, results.map((r) => h('li', {}, `${date(r.resultedAt)}: ${r.value}${r.unit ? ` ${r.unit}` : ''} `, flagBadge(r.flag)))))
      : null,
    provenance(latest.provenance));
}

export function labCard(id, title, results, error) {
  return card(id, title, body(results, error, (list) => h('ul', { class: 'items' }, byTest(list).map(testBlock))));
}


// The dose check: each medicine's daily dose against the weight, verdict in colour and words.
import { h } from '../dom.js';
import { number } from '../format.js';
import { label, t } from '../i18n.js';
import { badge, body, card, cell, coding, tableWrap } from './cards.js';

const VERDICT = {
  WITHIN_RANGE: ['ok', '✓'], ABOVE_RANGE: ['bad', '▲'], BELOW_RANGE: ['warn', '▼'],
  NO_REFERENCE: ['info', '?'], NO_WEIGHT: ['warn', '?'],
};

export function verdictBadge(verdict) {
  const [kind, mark] = VERDICT[verdict] || ['info', '?'];
  return badge(kind, `${mark} ${label('verdict', verdict)}`);
}

function range(check) {
  const { referenceMinMgPerKgPerDay: low, referenceMaxMgPerKgPerDay: high } = check;
  if (low === null && high === null) return '—';
  return `${number(low, 2)}–${number(high, 2)}`;
}

export function doseCheckCard(checks, error) {
  return card('dose-check', t('dose.title'), body(checks, error, (list) => tableWrap(t('dose.title'),
    h('table', { class: 'dose-check stack' },
      h('caption', {}, t('dose.caption')),
      h('thead', {}, h('tr', {}, ['medicine', 'daily', 'weight', 'perKg', 'range', 'verdict', 'note']
        .map((c) => h('th', { scope: 'col', class: ['daily', 'weight', 'perKg'].includes(c) ? 'num' : null }, t(`dose.${c}`))))),
      h('tbody', {}, list.map((c) => h('tr', { 'data-verdict': c.verdict },
        h('th', { scope: 'row' }, c.name, h('span', { class: 'provenance' }, coding(c.medication))),
        cell(t('dose.daily'), number(c.dailyDoseMg, 1), { class: 'num' }),
        cell(t('dose.weight'), number(c.weightKg, 1), { class: 'num' }),
        cell(t('dose.perKg'), number(c.mgPerKgPerDay, 2), { class: 'num' }),
        cell(t('dose.range'), range(c)),
        cell(t('dose.verdict'), verdictBadge(c.verdict), { class: 'verdict' }),
        cell(t('dose.note'), c.note || '—'))))))));
}

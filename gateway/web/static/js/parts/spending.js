// Free and insured medicines collected: a list, and what they cost per year (patients only).
import { h } from '../dom.js';
import { date, money, number, tiyn } from '../format.js';
import { t } from '../i18n.js';
import { body, card, cell, tableWrap } from './cards.js';

/** Sum of amountKzt per year of dispensing, newest year first, in tiyn. */
export function yearlyTotals(dispensations) {
  const totals = new Map();
  for (const d of dispensations) {
    if (d.amountKzt === null) continue;
    const year = d.dispensedAt.slice(0, 4);
    totals.set(year, (totals.get(year) || 0) + tiyn(d.amountKzt));
  }
  return [...totals.entries()].sort((a, b) => b[0].localeCompare(a[0]));
}

function table(list) {
  const withCost = list.some((d) => d.amountKzt !== null);
  const rows = [...list].sort((a, b) => b.dispensedAt.localeCompare(a.dispensedAt));
  const totals = yearlyTotals(list);
  return [
    withCost ? tableWrap(t('spending.perYear'), h('table', { class: 'totals' },
      h('caption', {}, t('spending.perYear')),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('spending.year')), h('th', { scope: 'col', class: 'num' }, t('spending.total')))),
      h('tbody', {}, totals.map(([year, amount]) => h('tr', {}, h('th', { scope: 'row' }, year), h('td', { class: 'num' }, money(amount))))))) : null,
    tableWrap(t('spending.list'), h('table', { class: 'dispensations stack' },
      h('caption', {}, t('spending.list')),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, t('spending.date')), h('th', { scope: 'col' }, t('spending.medicine')),
        h('th', { scope: 'col', class: 'num' }, t('spending.quantity')), h('th', { scope: 'col' }, t('spending.programme')),
        withCost ? h('th', { scope: 'col', class: 'num' }, t('spending.amount')) : null)),
      h('tbody', {}, rows.map((d) => h('tr', {},
        h('th', { scope: 'row' }, date(d.dispensedAt)),
        cell(t('spending.medicine'), h('span', {}, d.name, d.pharmacy?.name ? h('span', { class: 'provenance' }, d.pharmacy.name) : null)),
        cell(t('spending.quantity'), number(d.quantity, 0), { class: 'num' }), cell(t('spending.programme'), d.program),
        withCost ? cell(t('spending.amount'), d.amountKzt === null ? '—' : money(tiyn(d.amountKzt)), { class: 'num' }) : null))))),
  ];
}

export function dispensationsCard(id, title, dispensations, error) {
  return card(id, title, body(dispensations, error, table));
}

// Health managers: the three aggregate tables, suppressed cells said as such, a chart each.
import { reasonAt, settle } from '../api.js';
import { h, uid } from '../dom.js';
import { money, number, tiyn, today } from '../format.js';
import { label, t } from '../i18n.js';
import { STATS_CALLS, STATS_DISPENSATIONS, STATS_PREVALENCE } from '../operations.js';
import { absent, card, cell, empty, tableWrap } from '../parts/cards.js';
import { barChart } from '../parts/charts.js';

// Managers ask for whole calendar months that are over, at most 36 (docs/suppression.md):
// anything else the gateway refuses, so the pickers offer months only.
const MAX_MONTHS = 36;
const DISPENSATION_GROUPS = ['ATC', 'REGION', 'MONTH', 'PROGRAM', 'PHARMACY'];
const CALL_GROUPS = ['DIAGNOSIS', 'OUTCOME', 'STATION', 'MONTH'];

/** "YYYY-MM" n months after (n < 0: before) the month ``month``. */
function addMonths(month, n) {
  const [year, m] = month.split('-').map(Number);
  const index = year * 12 + (m - 1) + n;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
}

function spanMonths(from, to) {
  const [a, b] = [from, to].map((month) => month.split('-').map(Number));
  return (b[0] - a[0]) * 12 + (b[1] - a[1]) + 1;
}

/** The period the gateway is asked for: the first day of ``from``, the last day of ``to``. */
function periodOf(from, to) {
  const last = new Date(Date.UTC(...to.split('-').map(Number), 0)).getUTCDate();
  return { from: `${from}-01`, to: `${to}-${String(last).padStart(2, '0')}` };
}

function select(labelText, options, value, attrs = {}) {
  const id = uid('pick');
  const element = h('select', { id, ...attrs }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
  return { field: h('div', { class: 'field' }, h('label', { for: id }, labelText), element), element };
}

function input(labelText, attrs) {
  const id = uid('in');
  const element = h('input', { id, ...attrs });
  return { field: h('div', { class: 'field' }, h('label', { for: id }, labelText), element), element };
}

function suppressedCell(column, k) {
  return cell(column, t('stats.suppressed'), { class: 'num suppressed', title: t('stats.suppressedWhy', { k }) });
}

/** A stats table and its bar chart; suppressed figures are words, never 0. */
function statTable(id, title, rows, error, k, withAmount) {
  if (error) return card(id, title, absent(error));
  if (!rows.length) return card(id, title, empty());
  const columns = { count: t('stats.count'), patients: t('stats.patients'), amountKzt: t('stats.amount') };
  const figure = (row, field) => {
    if (row.suppressed) return suppressedCell(columns[field], k);
    // Patients over several months are withheld where a region hides the row (docs/suppression.md).
    if (row[field] === null && field === 'patients' && row.count !== null) {
      return cell(columns[field], t('stats.withheld'), { class: 'num suppressed', title: t('stats.withheldWhy', { k }) });
    }
    if (row[field] === null) return cell(columns[field], t('stats.unavailable'), { class: 'num suppressed' });
    return cell(columns[field], field === 'amountKzt' ? money(tiyn(row[field])) : number(row[field], 0), { class: 'num' });
  };
  const bars = rows.map((row) => ({
    label: row.label || row.key, value: row.count ?? 0,
    hidden: row.suppressed ? t('stats.suppressedShort') : row.count === null ? t('stats.unavailable') : null,
  }));
  return card(id, title,
    barChart(bars, t('stats.chartOf', { table: title })),
    tableWrap(title, h('table', { class: 'stats stack', 'data-table': id },
      h('caption', { class: 'visually-hidden' }, title),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, t('stats.group')), h('th', { scope: 'col', class: 'num' }, t('stats.count')),
        h('th', { scope: 'col', class: 'num' }, t('stats.patients')),
        withAmount ? h('th', { scope: 'col', class: 'num' }, t('stats.amount')) : null)),
      h('tbody', {}, rows.map((row) => h('tr', { 'data-key': row.key, class: row.suppressed ? 'is-suppressed' : null },
        h('th', { scope: 'row' }, row.label || row.key, row.label && row.label !== row.key ? h('span', { class: 'provenance' }, row.key) : null),
        figure(row, 'count'), figure(row, 'patients'), withAmount ? figure(row, 'amountKzt') : null))))));
}

export function managerScreen(root, me, config) {
  const lastMonth = addMonths(today().slice(0, 7), -1); // the last month that is over
  const state = {
    from: addMonths(lastMonth, -11), to: lastMonth, region: me.region || '',
    dispensationsBy: 'ATC', callsBy: 'DIAGNOSIS', icd10: 'E11',
  };
  const tables = h('div', { id: 'tables' });

  async function load() {
    tables.setAttribute('aria-busy', 'true');
    const region = state.region || null;
    const period = { ...periodOf(state.from, state.to), region };
    const answers = await Promise.all([
      settle(STATS_DISPENSATIONS, { ...period, groupBy: state.dispensationsBy }),
      settle(STATS_PREVALENCE, { icd10: state.icd10, region }),
      settle(STATS_CALLS, { ...period, groupBy: state.callsBy }),
    ]);
    const k = config.suppressionK;
    const [dispensations, prevalence, calls] = answers.map((answer, i) => {
      const field = ['dispensations', 'prevalence', 'ambulanceCalls'][i];
      const rows = answer.data?.stats?.[field];
      return { rows: rows || [], error: rows ? null : reasonAt(answer, ['stats', field]) };
    });
    tables.replaceChildren(
      statTable('stats-dispensations', t('stats.dispensations', { by: label('grouping', state.dispensationsBy) }), dispensations.rows, dispensations.error, k, true),
      statTable('stats-prevalence', t('stats.prevalence', { code: state.icd10 }), prevalence.rows, prevalence.error, k, false),
      statTable('stats-calls', t('stats.calls', { by: label('grouping', state.callsBy) }), calls.rows, calls.error, k, false),
    );
    tables.setAttribute('aria-busy', 'false');
  }

  function render() {
    const regions = me.region
      ? [[me.region, me.region]] // a regional manager sees their region only (ACCESS.md)
      : [['', t('stats.national')], ...config.regions.map((r) => [r, r])];
    const region = select(t('stats.region'), regions, state.region, { disabled: Boolean(me.region) });
    const from = input(t('stats.from'), { type: 'month', value: state.from, max: lastMonth, required: true });
    const to = input(t('stats.to'), { type: 'month', value: state.to, max: lastMonth, required: true });
    const byDispensation = select(t('stats.dispensationsBy'), DISPENSATION_GROUPS.map((g) => [g, label('grouping', g)]), state.dispensationsBy);
    const byCall = select(t('stats.callsBy'), CALL_GROUPS.map((g) => [g, label('grouping', g)]), state.callsBy);
    const icd10 = input(t('stats.icd10'), { value: state.icd10, pattern: '[A-Za-z][0-9]{2}', maxlength: '3', required: true, 'aria-describedby': 'icd10-hint' });
    const problem = h('p', { class: 'hint bad', role: 'alert', id: 'period-problem' });
    const form = h('form', { class: 'search card', novalidate: true, 'aria-label': t('stats.filters') },
      h('h1', {}, t('stats.title')),
      me.region ? h('p', {}, t('stats.regionalOnly', { region: me.region })) : null,
      h('div', { class: 'row' }, region.field, from.field, to.field),
      h('div', { class: 'row' }, byDispensation.field, byCall.field, icd10.field),
      h('p', { class: 'hint', id: 'icd10-hint' }, t('stats.icd10Hint')),
      h('p', { class: 'hint' }, t('stats.periodRule', { months: MAX_MONTHS, k: config.suppressionK })),
      problem,
      h('div', {}, h('button', { type: 'submit', class: 'primary' }, t('stats.show'))));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const period = [from.element.value, to.element.value];
      let message = '';
      if (!period[0] || !period[1]) message = t('stats.needDates');
      else if (period[0] > period[1]) message = t('stats.fromAfterTo');
      else if (period[1] > lastMonth) message = t('stats.notOver');
      else if (spanMonths(...period) > MAX_MONTHS) message = t('stats.tooLong', { months: MAX_MONTHS });
      else if (!/^[A-Za-z]\d{2}$/.test(icd10.element.value.trim())) message = t('stats.badIcd10');
      problem.textContent = message;
      if (message) return;
      Object.assign(state, {
        from: period[0], to: period[1], region: region.element.value,
        dispensationsBy: byDispensation.element.value, callsBy: byCall.element.value,
        icd10: icd10.element.value.trim().toUpperCase(),
      });
      await load();
    });
    root.replaceChildren(form, tables);
    root.setAttribute('aria-busy', 'false');
    load();
  }

  return { render };
}

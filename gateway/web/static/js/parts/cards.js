// The building blocks of every screen: a card per section, provenance, why a section is absent.
import { codeOf } from '../api.js';
import { h, inLanguage } from '../dom.js';
import { date } from '../format.js';
import { label, t } from '../i18n.js';

/** A titled section of the page, reachable from the contents list by its id. */
export function card(id, title, ...content) {
  return h('section', { class: 'card', id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title`, tabindex: '-1' }, title), ...content);
}

/** A coded concept as its display, in the language the gateway says it is in. */
export function coding(value) {
  if (!value) return '—';
  return inLanguage(value.display || value.code, value.displayLanguage);
}

/** Where a fact comes from: source system, organisation, practitioner, date. */
export function provenance(value) {
  if (!value) return null;
  const parts = [
    value.organization?.name,
    value.practitioner?.name,
    value.recordedAt ? date(value.recordedAt) : null,
  ].filter(Boolean);
  const where = value.region ? `${value.source} (${value.region})` : value.source;
  return h('span', { class: 'provenance' }, t('provenance.from', { source: where }),
    parts.length ? ` · ${parts.join(' · ')}` : '');
}

export function badge(kind, text) {
  return h('span', { class: `badge ${kind}` }, text);
}

export function empty(key = 'section.none') {
  return h('p', { class: 'empty' }, t(key));
}

export function facts(pairs) {
  const shown = pairs.filter(([, value]) => value !== null && value !== undefined && value !== '');
  if (!shown.length) return empty();
  return h('dl', { class: 'facts' }, shown.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

/** Why a section is not shown: the gateway's error code, in words. */
export function absent(error) {
  const code = codeOf(error);
  const kind = code === 'SOURCE_UNAVAILABLE' || code === 'RESTRICTED_BY_PATIENT' ? 'warn' : 'bad';
  return h('p', { class: `notice ${kind}` }, label('error', code));
}

/**
 * A section's content: why it is absent, "none recorded" for an empty list or object,
 * or what `render` makes of it.
 */
export function body(value, error, render) {
  if (error) return absent(error);
  if (value === null || value === undefined) return empty();
  if (Array.isArray(value) && !value.length) return empty();
  return render(value);
}

/** A list of items, each with its provenance line. */
export function items(values, render) {
  return h('ul', { class: 'items' }, values.map((value) => h('li', {}, render(value), provenance(value.provenance))));
}

/** A table cell that names its column (read out, and shown on narrow screens). */
export function cell(column, content, attrs = {}) {
  return h('td', { 'data-label': column, ...attrs }, content);
}

/** A table that may scroll sideways: a named region reachable by keyboard. */
export function tableWrap(name, table) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': name }, table);
}

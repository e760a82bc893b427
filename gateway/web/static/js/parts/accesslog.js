// Who read this passport: when, who, where, which sections, why, on what basis.
import { codeOf } from '../api.js';
import { h } from '../dom.js';
import { dateTime } from '../format.js';
import { label, t } from '../i18n.js';
import { absent, badge, card, cell, empty, tableWrap } from './cards.js';

/** Break-glass and emergency reads are the ones a person must notice. */
export function standsOut(event) {
  return event.breakGlass || event.basis === 'BREAK_GLASS' || event.basis === 'EMERGENCY' || event.role === 'EMERGENCY';
}

function basisBadge(event) {
  if (event.breakGlass || event.basis === 'BREAK_GLASS') return badge('bad', `⚠ ${label('basis', 'BREAK_GLASS')}`);
  if (event.basis === 'EMERGENCY' || event.role === 'EMERGENCY') return badge('bad', `⚠ ${label('basis', 'EMERGENCY')}`);
  return event.basis ? badge('info', label('basis', event.basis)) : null;
}

export function accessLogCard(events, error) {
  let content;
  if (error) content = codeOf(error) === 'FORBIDDEN' ? empty('accessLog.notYours') : absent(error);
  else if (!events || !events.length) content = empty('accessLog.none');
  else {
    const unusual = events.filter(standsOut).length;
    content = [
      unusual ? h('p', { class: 'notice bad' }, t('accessLog.unusual', { count: unusual })) : null,
      tableWrap(t('accessLog.title'), h('table', { class: 'access-log stack' },
        h('caption', { class: 'visually-hidden' }, t('accessLog.title')),
        h('thead', {}, h('tr', {}, ['when', 'who', 'sections', 'why', 'basis'].map((c) => h('th', { scope: 'col' }, t(`accessLog.${c}`))))),
        h('tbody', {}, events.map((e) => h('tr', { class: standsOut(e) ? 'alert' : null },
          h('th', { scope: 'row' }, dateTime(e.at)),
          cell(t('accessLog.who'), h('span', {}, e.practitioner?.name || e.subject, h('span', { class: 'provenance' },
            [label('role', e.role), e.organization?.name].filter(Boolean).join(' · ')))),
          cell(t('accessLog.sections'), e.sections.map((s) => label('section', s)).join(', ')),
          cell(t('accessLog.why'), e.reason || '—'),
          cell(t('accessLog.basis'), basisBadge(e), { class: 'basis' })))))),
    ];
  }
  return card('access-log', t('accessLog.title'), content);
}

// The ambulance crew's one screen: large type, what matters first, unknown never shown as none.
import { codeOf, errorAt, reasonAt, settle } from '../api.js';
import { h, uid } from '../dom.js';
import { number } from '../format.js';
import { t } from '../i18n.js';
import { EMERGENCY_DATA } from '../operations.js';
import { absent, card, coding } from '../parts/cards.js';
import { iinField } from '../parts/iinfield.js';
import { allergyLine, byCriticality, medicineLine, pregnancyText } from '../parts/sections.js';

/** A list that may be unknown (null: a source did not answer) or truly empty. */
function list(values, error, render) {
  if (values === null || values === undefined) {
    return h('p', { class: 'notice bad unknown' }, t(codeOf(error) === 'SOURCE_UNAVAILABLE' || !error ? 'emergency.unknown' : `error.${codeOf(error)}`));
  }
  if (!values.length) return h('p', { class: 'none' }, t('emergency.noneKnown'));
  return h('ul', { class: 'items' }, values.map((v) => h('li', {}, render(v))));
}

/** A single value, or UNKNOWN when its source did not answer. */
function value(shown, error) {
  if (error) return h('p', { class: 'notice bad unknown' }, t('emergency.unknown'));
  return h('p', { class: 'value' }, shown);
}

function banner(data) {
  if (data.complete) return null;
  const missing = data.sources.filter((s) => !s.ok || s.stale);
  return h('div', { class: 'notice bad', role: 'alert', id: 'incomplete' },
    h('strong', {}, t('emergency.incomplete')), ' ',
    missing.map((s, i) => [i ? ', ' : '', h('span', { class: 'source' }, s.source), ` (${t(s.stale ? 'sources.stale' : 'sources.failed')})`]),
    h('p', {}, t('emergency.unknownNotEmpty')));
}

function show(data, errors) {
  const at = (field) => errorAt(errors, ['emergency', field]);
  const person = data.identity;
  return [
    banner(data),
    h('h2', { id: 'em-person' }, person ? `${person.fullName} · ${t('emergency.age', { age: person.age ?? '—' })}` : t('emergency.unknownPerson')),
    h('div', { class: 'pair' },
      card('em-blood', t('emergency.bloodGroup'), value(data.bloodGroup || t('emergency.noBloodGroup'), at('bloodGroup'))),
      card('em-weight', t('emergency.weight'), value(data.weightKg !== null ? `${number(data.weightKg)} kg` : '—', at('weightKg')))),
    card('em-allergies', t('emergency.allergies'), list(data.allergies && byCriticality(data.allergies), at('allergies'), allergyLine)),
    card('em-problems', t('emergency.problems'), list(data.activeProblems, at('activeProblems'), (p) => [h('strong', {}, coding(p.code)), ` (${p.code.code})`])),
    card('em-medicines', t('emergency.medicines'), list(data.currentMedications, at('currentMedications'), medicineLine)),
    card('em-implants', t('emergency.implants'), list(data.implants, at('implants'), (c) => coding(c))),
    card('em-pregnancy', t('emergency.pregnancy'), at('pregnancy') ? value('', at('pregnancy')) : h('p', {}, pregnancyText(data.pregnancy) || '—')),
    card('em-contacts', t('emergency.contacts'), list(data.contacts, at('contacts'), (c) => [
      h('strong', {}, c.name), c.relationship ? ` (${c.relationship})` : '', ' ',
      c.phones.map((phone, i) => [i ? ', ' : '', h('a', { href: `tel:${phone.replace(/[^+\d]/g, '')}` }, phone)]),
    ])),
  ];
}

export function emergencyScreen(root, me, config) {
  const results = h('div', { id: 'results' });

  function render() {
    const iin = iinField();
    const reasonId = uid('reason');
    const reason = h('input', { id: reasonId, name: 'reason', required: true, autocomplete: 'off', minlength: String(config.emergencyReasonMinChars) });
    const form = h('form', { class: 'search card', novalidate: true, 'aria-label': t('emergency.title') },
      h('h1', {}, t('emergency.title')),
      iin.field,
      h('div', { class: 'field' }, h('label', { for: reasonId }, t('emergency.reason')), reason),
      h('div', {}, h('button', { type: 'submit', class: 'primary' }, t('emergency.open'))));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!iin.valid()) return iin.input.focus();
      if (reason.value.trim().length < config.emergencyReasonMinChars) {
        reason.setAttribute('aria-invalid', 'true');
        return reason.focus();
      }
      reason.setAttribute('aria-invalid', 'false');
      results.setAttribute('aria-busy', 'true');
      const answer = await settle(EMERGENCY_DATA, { iin: iin.input.value.trim(), reason: reason.value.trim() });
      const data = answer.data?.emergency;
      const shown = data ? show(data, answer.errors) : [absent(reasonAt(answer, ['emergency']))];
      results.replaceChildren(...shown.flat().filter(Boolean));
      results.setAttribute('aria-busy', 'false');
      const first = results.querySelector('#incomplete, h2, .notice');
      first?.setAttribute('tabindex', '-1');
      first?.focus();
    });
    root.replaceChildren(h('div', { class: 'big' }, form, results));
    root.setAttribute('aria-busy', 'false');
  }

  return { render };
}

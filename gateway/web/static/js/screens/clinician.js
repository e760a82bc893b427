// Nurse and doctor: find a patient by IIN, see the care relationship, break glass if needed.
import { codeOf, errorAt, reasonAt, settle } from '../api.js';
import { h } from '../dom.js';
import { label, t } from '../i18n.js';
import { DOCTOR_PASSPORT, NURSE_PASSPORT } from '../operations.js';
import { askBreakGlassReason } from '../parts/breakglass.js';
import { absent, card } from '../parts/cards.js';
import { doseCheckCard } from '../parts/dosecheck.js';
import { iinField } from '../parts/iinfield.js';
import { contents, sectionCards, sourcesCard } from '../parts/sections.js';

export function clinicianScreen(root, me, config) {
  const operation = me.role === 'NURSE' ? NURSE_PASSPORT : DOCTOR_PASSPORT;
  let shown = null; // { iin, reason, data, errors }
  const results = h('div', { id: 'results' });

  async function read(iin, reason) {
    results.setAttribute('aria-busy', 'true');
    const answer = await settle(operation, { iin, reason: reason || null });
    shown = { iin, reason, ...answer };
    showResult();
  }

  function relationship(passportError) {
    if (shown.reason) return h('p', { class: 'notice bad', id: 'relationship' }, t('care.breakGlassRead'));
    if (!passportError) return h('p', { class: 'notice', id: 'relationship' }, t('care.yes'));
    return null;
  }

  function showResult() {
    const { data, errors, iin } = shown;
    const passport = data?.passport;
    const passportError = reasonAt(shown, ['passport']);
    const page = [];
    if (!passport) {
      const code = codeOf(passportError);
      if (code === 'FORBIDDEN' && !shown.reason) {
        const breakGlass = h('button', { type: 'button', class: 'primary danger', id: 'break-glass' }, t('breakGlass.open'));
        breakGlass.addEventListener('click', async () => {
          const reason = await askBreakGlassReason(config.breakGlassMinChars);
          if (reason) await read(iin, reason);
          else breakGlass.focus();
        });
        page.push(h('div', { class: 'card', id: 'relationship' },
          h('p', { class: 'notice warn' }, t('care.no')), h('p', {}, t('care.noExplain')), breakGlass));
      } else {
        page.push(absent(passportError));
      }
    } else {
      const cards = sectionCards(passport, errors);
      if ('doseCheck' in passport) {
        const at = cards.findIndex((c) => c.id === 'section-medications');
        cards.splice(at + 1, 0, doseCheckCard(passport.doseCheck, errorAt(errors, ['passport', 'doseCheck'])));
      }
      const hidden = passport.restrictedSections || [];
      cards.push(sourcesCard(passport.sources));
      page.push(
        h('h2', { class: 'patient-name' }, passport.identity?.fullName || iin),
        relationship(passportError),
        hidden.length ? h('p', { class: 'notice warn' }, t('care.restricted', { sections: hidden.map((s) => label('section', s)).join(', ') })) : null,
        contents(cards), cards,
      );
    }
    results.replaceChildren(...page.flat().filter(Boolean));
    results.setAttribute('aria-busy', 'false');
    results.querySelector('h2, .notice')?.setAttribute('tabindex', '-1');
  }

  function render() {
    const iin = iinField();
    const form = h('form', { class: 'search card', role: 'search', 'aria-label': t('search.title'), novalidate: true },
      h('h1', {}, t(`staff.title.${me.role}`)),
      h('p', {}, t('staff.org', { organization: me.organization?.name || me.organization?.bin || '—' })),
      iin.field,
      h('div', {}, h('button', { type: 'submit', class: 'primary' }, t('search.button'))));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!iin.valid()) {
        iin.input.focus();
        return;
      }
      await read(iin.input.value.trim(), null);
      results.querySelector('[tabindex="-1"]')?.focus();
    });
    if (shown) iin.input.value = shown.iin;
    root.replaceChildren(form, results);
    if (shown) read(shown.iin, shown.reason); // the language changed: the gateway's displays too
    root.setAttribute('aria-busy', 'false');
  }

  return { render };
}

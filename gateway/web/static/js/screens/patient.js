// The patient's passport: "This month" first, then the sections, the access log, privacy.
import { errorAt, reasonAt, settle } from '../api.js';
import { h } from '../dom.js';
import { date } from '../format.js';
import { t } from '../i18n.js';
import { ACCESS_LOG, DEPENDANTS, PATIENT_PASSPORT } from '../operations.js';
import { accessLogCard } from '../parts/accesslog.js';
import { absent } from '../parts/cards.js';
import { restrictionsCard } from '../parts/restrictions.js';
import { contents, sectionCards, sourcesCard, thisMonthCard } from '../parts/sections.js';

/** The screen of a patient (and of a parent or guardian, who may switch to a child). */
export function patientScreen(root, me) {
  let viewing = me.iin;
  let dependants = null; // null until asked; [] when none or not served

  function switcher() {
    if (!dependants || !dependants.length) return null; // guardians only
    const select = h('select', { id: 'whose' },
      h('option', { value: me.iin }, t('family.mine')),
      dependants.map((child) => h('option', { value: child.iin, selected: child.iin === viewing },
        t('family.child', { name: child.fullName, birthDate: date(child.birthDate) }))));
    select.addEventListener('change', () => {
      viewing = select.value;
      render();
    });
    return h('div', { class: 'card field' }, h('label', { for: 'whose' }, t('family.whose')), select);
  }

  async function render() {
    root.setAttribute('aria-busy', 'true');
    if (dependants === null) {
      const { data } = await settle(DEPENDANTS);
      dependants = data?.dependants || []; // not served by this gateway: no switcher
    }
    const [answer, log] = await Promise.all([
      settle(PATIENT_PASSPORT, { iin: viewing }),
      settle(ACCESS_LOG, { iin: viewing }),
    ]);
    const { data, errors } = answer;
    const passport = data?.passport;
    const page = [];
    if (!passport) {
      page.push(h('h1', {}, t('patient.title')), switcher(), absent(reasonAt(answer, ['passport'])));
    } else {
      const child = viewing !== me.iin;
      const first = thisMonthCard(passport, errors);
      const cards = [
        ...sectionCards(passport, errors),
        accessLogCard(log.data?.passport?.accessLog, reasonAt(log, ['passport', 'accessLog'])),
        restrictionsCard(passport.restrictedSections, errorAt(errors, ['passport', 'restrictedSections']), { iin: viewing, child }),
        sourcesCard(passport.sources),
      ];
      page.push(
        h('h1', {}, child ? t('patient.childTitle', { name: passport.identity?.fullName || '' }) : t('patient.title')),
        switcher(),
        h('p', {}, passport.identity?.fullName || ''),
        first,
        contents([first, ...cards]),
        cards,
      );
    }
    root.replaceChildren(...page.flat().filter(Boolean));
    root.setAttribute('aria-busy', 'false');
  }

  return { render };
}

// Switches to hide sections from nurses and doctors; the safety sections cannot be hidden.
import { run } from '../api.js';
import { announce, h, uid } from '../dom.js';
import { label, t } from '../i18n.js';
import { RESTRICT_CHILD, RESTRICT_OWN } from '../operations.js';
import { absent, card } from './cards.js';

// ACCESS.md "Patient restrictions".
export const RESTRICTABLE = ['LIFESTYLE', 'DIAGNOSTIC_STUDIES', 'LAB_RESULTS', 'RISK_BEHAVIOURS',
  'IMMUNIZATIONS', 'SCREENINGS', 'PROBLEMS', 'ENCOUNTERS', 'DISPENSATIONS'];
export const ALWAYS_VISIBLE = ['IDENTITY', 'CARE_TEAM', 'EMERGENCY', 'ALLERGIES', 'MEDICATIONS',
  'PHYSIOLOGICAL_STATE', 'ANTHROPOMETRICS'];

/** The switches for `restricted` sections of the passport of `iin` (a child's when `child`). */
export function restrictionsCard(restricted, error, { iin, child }) {
  if (error) return card('privacy', t('privacy.title'), absent(error));
  const now = new Set(restricted || []);
  const ruleId = uid('rule');

  async function toggle(event) {
    const box = event.currentTarget;
    const section = box.value;
    const wanted = box.checked;
    box.disabled = true;
    try {
      const variables = { section, restricted: wanted, ...(child ? { iin } : {}) };
      const { data, errors } = await run(child ? RESTRICT_CHILD : RESTRICT_OWN, variables);
      if (!data || errors.length) throw new Error(errors[0]?.extensions?.code || 'INTERNAL');
      const list = new Set(data.restrictSection);
      box.checked = list.has(section);
      announce(t(box.checked ? 'privacy.hidden' : 'privacy.shown', { section: label('section', section) }));
    } catch (problem) {
      box.checked = !wanted;
      announce(t('privacy.failed', { code: label('error', problem.message) }));
    } finally {
      box.disabled = false;
    }
  }

  return card('privacy', t('privacy.title'),
    h('p', {}, t('privacy.explain')),
    h('ul', { class: 'switches' }, RESTRICTABLE.map((section) => {
      const id = uid('restrict');
      return h('li', {},
        h('input', { type: 'checkbox', role: 'switch', id, value: section, checked: now.has(section), onchange: toggle }),
        h('label', { for: id }, t('privacy.hide', { section: label('section', section) })));
    })),
    h('h3', { id: ruleId }, t('privacy.lockedTitle')),
    h('p', {}, t('privacy.rule')),
    h('ul', { class: 'switches', 'aria-labelledby': ruleId }, ALWAYS_VISIBLE.map((section) => {
      const id = uid('locked');
      return h('li', { class: 'locked' },
        h('input', { type: 'checkbox', role: 'switch', id, disabled: true, 'aria-describedby': ruleId }),
        h('label', { for: id }, `${label('section', section)}: ${t('privacy.cannot')}`));
    })));
}

// An IIN input that checks the check digit as it is typed and says what is wrong, in words.
import { h, uid } from '../dom.js';
import { t } from '../i18n.js';
import { checkIin } from '../iin.js';

/** { field, input, valid() } for an IIN, labelled and described for screen readers. */
export function iinField(labelKey = 'search.iin') {
  const id = uid('iin');
  const hintId = `${id}-hint`;
  const input = h('input', {
    id, name: 'iin', inputmode: 'numeric', autocomplete: 'off', maxlength: '12', spellcheck: 'false',
    'aria-describedby': hintId, required: true,
  });
  const hint = h('p', { class: 'hint', id: hintId, 'aria-live': 'polite' }, t('iin.hint'));
  function update() {
    const state = checkIin(input.value.trim());
    const bad = state === 'not-digits' || state === 'long' || state === 'check-digit';
    input.setAttribute('aria-invalid', bad ? 'true' : 'false');
    hint.className = `hint${bad ? ' bad' : state === 'valid' ? ' ok' : ''}`;
    hint.textContent = state === 'short' ? t('iin.short', { count: input.value.trim().length }) : t(`iin.${state}`);
    return state;
  }
  input.addEventListener('input', update);
  const field = h('div', { class: 'field' }, h('label', { for: id }, t(labelKey)), input, hint);
  return { field, input, valid: () => update() === 'valid' };
}

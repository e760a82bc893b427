// The break-glass dialog: nothing is read until a reason of the required length is given.
import { h, uid } from '../dom.js';
import { t } from '../i18n.js';

/** Ask for a reason; resolves to it, or to null when cancelled. */
export function askBreakGlassReason(minChars) {
  return new Promise((resolve) => {
    const id = uid('reason');
    const reason = h('textarea', { id, rows: '3', required: true, minlength: String(minChars), 'aria-describedby': `${id}-hint` });
    const hint = h('p', { class: 'hint', id: `${id}-hint` }, t('breakGlass.min', { count: minChars }));
    const confirm = h('button', { type: 'submit', class: 'primary danger', disabled: true }, t('breakGlass.confirm'));
    const cancel = h('button', { type: 'button', class: 'secondary' }, t('breakGlass.cancel'));
    const titleId = uid('bg-title');
    const dialog = h('dialog', { 'aria-labelledby': titleId, class: 'break-glass' },
      h('form', { method: 'dialog' },
        h('h2', { id: titleId }, t('breakGlass.title')),
        h('p', { class: 'notice bad' }, t('breakGlass.warning')),
        h('div', { class: 'field' }, h('label', { for: id }, t('breakGlass.reason')), reason, hint),
        h('div', { class: 'actions' }, cancel, confirm)));
    const enough = () => reason.value.trim().length >= minChars;
    reason.addEventListener('input', () => {
      confirm.disabled = !enough();
      hint.textContent = enough() ? t('breakGlass.ready') : t('breakGlass.min', { count: minChars });
    });
    let answer = null;
    dialog.querySelector('form').addEventListener('submit', (event) => {
      if (!enough()) {
        event.preventDefault();
        return;
      }
      answer = reason.value.trim();
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    reason.focus();
  });
}

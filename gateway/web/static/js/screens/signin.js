// Before sign-in: what this is, and the button to the identity provider.
import { signIn } from '../auth.js';
import { h } from '../dom.js';
import { label, t } from '../i18n.js';

export function signInScreen(root, config, problem) {
  const button = h('button', { type: 'button', class: 'primary', id: 'sign-in' }, t('signin.button'));
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await signIn(config);
    } catch (error) {
      button.disabled = false;
      root.querySelector('.notice')?.remove();
      button.before(h('p', { class: 'notice bad', role: 'alert' }, label('signinError', error.code || 'provider-unreachable')));
    }
  });
  root.replaceChildren(h('section', { class: 'card' },
    h('h1', {}, t('signin.title')),
    h('p', {}, t('signin.explain')),
    problem ? h('p', { class: 'notice bad', role: 'alert' }, label('signinError', problem.code || 'token')) : null,
    button));
}

// Start-up: configuration, language, sign-in, then the screen of the signed-in role.
import { ApiError, configureApi, run } from './api.js';
import { completeSignIn, currentSession, signOut } from './auth.js';
import { h } from './dom.js';
import { initialLanguage, label, setLanguage } from './i18n.js';
import { ME } from './operations.js';
import { clinicianScreen } from './screens/clinician.js';
import { emergencyScreen } from './screens/emergency.js';
import { managerScreen } from './screens/manager.js';
import { patientScreen } from './screens/patient.js';
import { signInScreen } from './screens/signin.js';

const SCREENS = {
  PATIENT: patientScreen,
  NURSE: clinicianScreen,
  DOCTOR: clinicianScreen,
  EMERGENCY: emergencyScreen,
  MANAGER: managerScreen,
};

const root = document.getElementById('main');
let config = null;
let screen = null; // the signed-in role's screen: { render() }

function failure(error) {
  root.replaceChildren(h('p', { class: 'notice bad', role: 'alert' }, label('error', error?.code || 'INTERNAL')));
  root.setAttribute('aria-busy', 'false');
}

function showSignIn(problem) {
  screen = null;
  document.getElementById('who').textContent = '';
  document.getElementById('sign-out').hidden = true;
  signInScreen(root, config, problem);
  root.setAttribute('aria-busy', 'false');
}

async function startRole() {
  const { data } = await run(ME);
  const me = data.me;
  const session = currentSession();
  document.getElementById('who').textContent = `${session.name} · ${label('role', me.role)}`;
  document.getElementById('sign-out').hidden = false;
  screen = SCREENS[me.role](root, me, config);
  await screen.render();
  root.focus({ preventScroll: true });
}

async function guarded(action) {
  try {
    await action();
  } catch (error) {
    if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') showSignIn({ code: 'expired' });
    else failure(error);
  }
}

async function boot() {
  const response = await fetch('config.json');
  config = await response.json();
  configureApi(config.graphqlPath);
  await setLanguage(initialLanguage(config.defaultLanguage));
  const picker = document.getElementById('language');
  picker.value = document.documentElement.lang;
  picker.addEventListener('change', async () => {
    await setLanguage(picker.value, true);
    if (screen) await guarded(() => screen.render());
    else showSignIn();
  });
  document.getElementById('sign-out').addEventListener('click', () => {
    signOut();
    showSignIn();
  });
  try {
    if (!(await completeSignIn(config))) return showSignIn();
  } catch (error) {
    return showSignIn(error);
  }
  await guarded(startRole);
}

boot().catch((error) => failure(error));

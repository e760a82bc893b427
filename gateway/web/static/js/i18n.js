// The app's own labels in Kazakh, Russian and English (i18n/*.json); the gateway's displays
// come in the same language through Accept-Language.
export const LANGUAGES = ['kk', 'ru', 'en'];
const LOCALES = { kk: 'kk-KZ', ru: 'ru-RU', en: 'en-GB' };
const CHOSEN = 'ehp.language'; // a preference, not a secret

let current = 'kk';
let labels = {};
let fallback = {};

/** The language to start in: the person's earlier choice, then the browser's, then the default. */
export function initialLanguage(defaultLanguage) {
  const chosen = localStorage.getItem(CHOSEN);
  if (LANGUAGES.includes(chosen)) return chosen;
  for (const tag of navigator.languages || []) {
    const base = tag.toLowerCase().split('-')[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return LANGUAGES.includes(defaultLanguage) ? defaultLanguage : 'kk';
}

async function load(lang) {
  const response = await fetch(`i18n/${lang}.json`);
  if (!response.ok) throw new Error(`labels ${lang}: HTTP ${response.status}`);
  return response.json();
}

/** Switch every label to `lang` and remember the choice. */
export async function setLanguage(lang, remember = false) {
  if (!LANGUAGES.includes(lang)) lang = 'kk';
  if (!Object.keys(fallback).length) fallback = await load('en');
  labels = lang === 'en' ? fallback : await load(lang);
  current = lang;
  document.documentElement.lang = lang;
  if (remember) localStorage.setItem(CHOSEN, lang);
  for (const element of document.querySelectorAll('[data-i18n]')) {
    element.textContent = t(element.dataset.i18n);
  }
  document.title = t('app.title');
}

export function language() {
  return current;
}

/** The label `key`, with {name} placeholders filled from `values`. */
export function t(key, values) {
  const text = labels[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (values && name in values ? values[name] : ''));
}

/** A label of an enum value, e.g. t('verdict.ABOVE_RANGE'), or the value itself. */
export function label(group, value) {
  const key = `${group}.${value}`;
  return labels[key] ?? fallback[key] ?? String(value);
}

export function locale() {
  return LOCALES[current];
}

// Dates, numbers and money in the chosen language. Dates are shown in Almaty time.
import { locale, t } from './i18n.js';

const ZONE = 'Asia/Almaty';

export function date(value) {
  if (!value) return '—';
  const parsed = new Date(value.length === 10 ? `${value}T12:00:00+05:00` : value);
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeZone: ZONE }).format(parsed);
}

export function dateTime(value) {
  if (!value) return '—';
  return new Intl.DateTimeFormat(locale(), {
    dateStyle: 'medium', timeStyle: 'short', timeZone: ZONE,
  }).format(new Date(value));
}

export function month(value) {
  // "YYYY-MM"
  const parsed = new Date(`${value}-15T12:00:00+05:00`);
  return new Intl.DateTimeFormat(locale(), { month: 'long', year: 'numeric', timeZone: ZONE }).format(parsed);
}

export function number(value, digits = 1) {
  if (value === null || value === undefined) return '—';
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
}

/** Decimal strings ("1290.00") to whole tiyn, so sums are exact. */
export function tiyn(decimal) {
  const [whole, fraction = ''] = String(decimal).split('.');
  const sign = whole.startsWith('-') ? -1 : 1;
  return sign * (Math.abs(Number(whole)) * 100 + Number((fraction + '00').slice(0, 2)));
}

export function money(tiynAmount) {
  return `${new Intl.NumberFormat(locale(), { minimumFractionDigits: 2, maximumFractionDigits: 2 })
    .format(tiynAmount / 100)} ${t('unit.kzt')}`;
}

/** Today in Almaty as YYYY-MM-DD. */
export function today() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: ZONE }).format(new Date());
}

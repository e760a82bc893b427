// The IIN check digit rule of SOURCES.md, so a mistyped number is caught as it is typed.
const FIRST = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const SECOND = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];

function weighted(digits, weights) {
  return weights.reduce((sum, weight, i) => sum + weight * digits[i], 0) % 11;
}

/** 'empty', 'not-digits', 'short', 'long', 'check-digit' or 'valid'. */
export function checkIin(text) {
  if (text === '') return 'empty';
  if (!/^\d*$/.test(text)) return 'not-digits';
  if (text.length < 12) return 'short';
  if (text.length > 12) return 'long';
  const digits = [...text].map(Number);
  let check = weighted(digits, FIRST);
  if (check === 10) check = weighted(digits, SECOND);
  return check !== 10 && check === digits[11] ? 'valid' : 'check-digit';
}

// Small inline SVG charts: a lab trend against its reference range, and bars per table row.
import { h, s } from '../dom.js';
import { date, number } from '../format.js';
import { t } from '../i18n.js';

const WIDTH = 320;
const HEIGHT = 150;
const PAD = { left: 40, right: 12, top: 12, bottom: 28 };

/** "4.0-6.0" -> {low: 4, high: 6}; "<5.2" -> {high: 5.2}; ">1" -> {low: 1}; else null. */
export function parseRange(text) {
  if (!text) return null;
  const between = /^\s*(-?[\d.]+)\s*[-–]\s*(-?[\d.]+)\s*$/.exec(text);
  if (between) return { low: Number(between[1]), high: Number(between[2]) };
  const bound = /^\s*([<>]=?)\s*(-?[\d.]+)\s*$/.exec(text);
  if (bound) return bound[1].startsWith('<') ? { high: Number(bound[2]) } : { low: Number(bound[2]) };
  return null;
}

/** A trend of `points` ({at, value}) with the reference band (`rangeText` as reported); a figure. */
export function trendChart(points, rangeText, unit, title) {
  const range = parseRange(rangeText);
  const values = points.map((p) => p.value);
  const times = points.map((p) => new Date(p.at).getTime());
  const bounds = [...values, range?.low, range?.high].filter((v) => typeof v === 'number');
  let min = Math.min(...bounds);
  let max = Math.max(...bounds);
  const margin = (max - min || Math.abs(max) || 1) * 0.1;
  min -= margin;
  max += margin;
  const first = Math.min(...times);
  const span = Math.max(...times) - first || 1;
  const x = (time) => PAD.left + ((time - first) / span) * (WIDTH - PAD.left - PAD.right);
  const y = (value) => PAD.top + (1 - (value - min) / (max - min)) * (HEIGHT - PAD.top - PAD.bottom);
  const low = range?.low ?? min;
  const high = range?.high ?? max;
  const outside = (v) => (range?.low !== undefined && v < range.low) || (range?.high !== undefined && v > range.high);
  const summary = t('chart.trend', {
    test: title, count: points.length, first: number(values[0], 2), last: number(values.at(-1), 2), unit: unit || '',
  });
  const graphic = s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': summary },
    range ? s('rect', { class: 'band', x: PAD.left, width: WIDTH - PAD.left - PAD.right, y: y(high), height: Math.max(1, y(low) - y(high)) }) : null,
    s('polyline', { class: 'line', points: points.map((p, i) => `${x(times[i])},${y(p.value)}`).join(' ') }),
    points.map((p, i) => s('circle', { class: outside(p.value) ? 'dot out' : 'dot', cx: x(times[i]), cy: y(p.value), r: 3.5 })),
    s('text', { x: 2, y: y(max - margin) + 4 }, number(max - margin, 1)),
    s('text', { x: 2, y: y(min + margin) + 4 }, number(min + margin, 1)),
    s('text', { x: PAD.left, y: HEIGHT - 8 }, date(points[0].at)),
    s('text', { x: WIDTH - PAD.right, y: HEIGHT - 8, 'text-anchor': 'end' }, date(points.at(-1).at)),
  );
  const legend = range ? t('chart.band', { range: rangeText, unit: unit || '' }) : '';
  return h('figure', { class: 'chart' }, graphic, h('figcaption', {}, summary, legend ? ` ${legend}` : ''));
}

/** Horizontal bars of `rows` ({label, value, hidden}); a hidden value is drawn as an outline with its reason. */
export function barChart(rows, title) {
  const shown = rows.slice(0, 20);
  const rowHeight = 22;
  const labelWidth = 120;
  const height = shown.length * rowHeight + 8;
  const top = Math.max(1, ...shown.filter((r) => !r.hidden).map((r) => r.value));
  const scale = (WIDTH - labelWidth - 48) / top;
  const graphic = s('svg', { viewBox: `0 0 ${WIDTH} ${height}`, role: 'img', 'aria-label': title },
    shown.map((row, i) => {
      const y = 4 + i * rowHeight;
      const text = row.label.length > 18 ? `${row.label.slice(0, 17)}…` : row.label;
      return s('g', {},
        s('text', { x: 0, y: y + 14 }, text),
        row.hidden
          ? [s('rect', { class: 'bar hidden-value', x: labelWidth, y: y + 2, width: 40, height: rowHeight - 6 }),
            s('text', { x: labelWidth + 46, y: y + 14 }, row.hidden)]
          : [s('rect', { class: 'bar', x: labelWidth, y: y + 2, width: Math.max(1, row.value * scale), height: rowHeight - 6 }),
            s('text', { x: labelWidth + Math.max(1, row.value * scale) + 4, y: y + 14 }, number(row.value, 0))],
      );
    }));
  return h('figure', { class: 'chart' }, graphic,
    h('figcaption', {}, rows.length > shown.length ? t('chart.firstRows', { count: shown.length }) : title));
}

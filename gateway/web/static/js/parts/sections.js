// The passport's sections as cards, in the order of the national passport.
import { errorAt } from '../api.js';
import { h } from '../dom.js';
import { date, dateTime, month, number } from '../format.js';
import { label, t } from '../i18n.js';
import { badge, body, card, coding, facts, items, provenance } from './cards.js';
import { labCard } from './labs.js';
import { dispensationsCard } from './spending.js';

const CRITICALITY = { HIGH: 'bad', LOW: 'info', UNKNOWN: 'warn' };

/** Allergies with high criticality first. */
export function byCriticality(allergies) {
  const rank = { HIGH: 0, UNKNOWN: 1, LOW: 2 };
  return [...allergies].sort((a, b) => rank[a.criticality] - rank[b.criticality]);
}

export function allergyLine(allergy) {
  return [
    h('strong', {}, coding(allergy.substance)), ' ',
    badge(CRITICALITY[allergy.criticality], label('criticality', allergy.criticality)),
    allergy.reactions.length ? h('span', { class: 'provenance' }, `${t('allergy.reactions')}: ${allergy.reactions.join(', ')}`) : null,
  ];
}

export function medicineLine(medicine) {
  const dose = medicine.dose ? `${number(medicine.dose.value, 2)} ${medicine.dose.unit}` : null;
  const often = medicine.timesPerDay ? t('medicine.timesPerDay', { count: medicine.timesPerDay }) : null;
  return [
    h('strong', {}, medicine.name), ' ', h('span', {}, [dose, often, medicine.route].filter(Boolean).join(' · ')),
    medicine.since ? h('span', { class: 'provenance' }, t('medicine.since', { date: date(medicine.since) })) : null,
  ];
}

export function pregnancyText(pregnancy) {
  if (!pregnancy) return null;
  const parts = [label('pregnancy', pregnancy.status)];
  if (pregnancy.gestationalWeeks) parts.push(t('pregnancy.weeks', { weeks: pregnancy.gestationalWeeks }));
  if (pregnancy.expectedDeliveryDate) parts.push(t('pregnancy.due', { date: date(pregnancy.expectedDeliveryDate) }));
  return parts.join(' · ');
}

/** One plan row: overdue or due, with the month and the programme's reason. */
export function plannedLine(planned) {
  return [
    h('strong', {}, planned.name), ' ',
    planned.overdue ? badge('bad', t('plan.overdue')) : badge('info', t('plan.due', { month: month(planned.dueMonth) })),
    h('span', { class: 'provenance' }, planned.reason),
  ];
}

const SECTIONS = [
  ['IDENTITY', 'identity', (p) => facts([
    [t('identity.name'), p.fullName], [t('identity.iin'), p.iin], [t('identity.birthDate'), date(p.birthDate)],
    [t('identity.age'), p.age], [t('identity.sex'), p.sex && label('sex', p.sex)], [t('identity.region'), p.region],
  ])],
  ['CARE_TEAM', 'careTeam', (c) => [facts([
    [t('care.organization'), c.attachedOrganization?.name], [t('care.practitioner'), c.generalPractitioner?.name],
  ]), provenance(c.provenance)]],
  ['EMERGENCY', 'emergency', (e) => facts([
    [t('emergency.bloodGroup'), e.bloodGroup || t('emergency.noBloodGroup')],
    [t('emergency.implants'), e.implants?.length ? e.implants.map((c) => coding(c)).flatMap((c, i) => (i ? [', ', c] : [c])) : t('section.none')],
  ])],
  ['ALLERGIES', 'allergies', (list) => items(byCriticality(list), allergyLine)],
  ['LIFESTYLE', 'lifestyle', (l) => [facts([
    [t('lifestyle.exercise'), l.exerciseMinutesPerWeek !== null ? t('lifestyle.minutesPerWeek', { count: l.exerciseMinutesPerWeek }) : null],
    [t('lifestyle.sleep'), l.sleepHoursPerDay !== null ? t('lifestyle.hoursPerDay', { count: number(l.sleepHoursPerDay) }) : null],
  ]), provenance(l.provenance)]],
  ['DIAGNOSTIC_STUDIES', 'diagnosticStudies', (list) => items(list, (d) => [
    h('strong', {}, coding(d.code)), ` · ${date(d.date)}`, d.conclusion ? h('span', { class: 'provenance' }, d.conclusion) : null,
  ])],
  ['LAB_RESULTS', 'labResults', null],
  ['PHYSIOLOGICAL_STATE', 'physiologicalState', (p) => [facts([
    [t('physiology.pregnancy'), pregnancyText(p.pregnancy)], [t('physiology.bloodPressure'), p.bloodPressure && `${p.bloodPressure} mm Hg`],
    [t('physiology.heartRate'), p.heartRate && `${p.heartRate} /min`],
  ]), provenance(p.provenance)]],
  ['RISK_BEHAVIOURS', 'riskBehaviours', (r) => [facts([
    [t('risk.smoking'), label('smoking', r.smoking)], [t('risk.alcohol'), r.alcoholAuditC],
    [t('risk.drugs'), r.drugUse === null ? null : t(r.drugUse ? 'answer.yes' : 'answer.no')],
  ]), provenance(r.provenance)]],
  ['IMMUNIZATIONS', 'immunizations', (list) => items([...list].sort((a, b) => b.date.localeCompare(a.date)), (v) => [
    h('strong', {}, coding(v.vaccine)), ` · ${date(v.date)}`, v.doseNumber ? ` · ${t('vaccine.dose', { number: v.doseNumber })}` : '',
  ])],
  ['SCREENINGS', 'screenings', null],
  ['PROBLEMS', 'problems', (list) => items(list, (p) => [
    h('strong', {}, coding(p.code)), ` (${p.code.code}) `,
    badge(p.status === 'ACTIVE' ? 'warn' : 'info', label('problem', p.status)),
    p.onset ? h('span', { class: 'provenance' }, t('problem.onset', { date: date(p.onset) })) : null,
  ])],
  ['MEDICATIONS', 'currentMedications', (list) => items(list, medicineLine)],
  ['ANTHROPOMETRICS', 'anthropometrics', (a) => [facts([
    [t('body.weight'), a.weightKg && `${number(a.weightKg)} kg`], [t('body.height'), a.heightCm && `${number(a.heightCm)} cm`],
    [t('body.bmi'), a.bmi && number(a.bmi)], [t('body.waist'), a.waistCm && `${number(a.waistCm)} cm`],
    [t('body.measured'), a.measuredAt && date(a.measuredAt)],
  ]), provenance(a.provenance)]],
  ['ENCOUNTERS', 'encounters', (list) => items([...list].sort((a, b) => b.start.localeCompare(a.start)).slice(0, 30), (e) => [
    h('strong', {}, label('encounter', e.kind)), ` · ${dateTime(e.start)}`,
    h('span', { class: 'provenance' }, [e.organization?.name, e.practitioner?.name].filter(Boolean).join(' · ')),
    e.diagnosis ? h('span', {}, coding(e.diagnosis), ` (${e.diagnosis.code})`) : null,
  ])],
  ['DISPENSATIONS', 'dispensations', null],
];

function screeningsBody(passport, errors) {
  const done = body(passport.screenings, errorAt(errors, ['passport', 'screenings']), (list) =>
    items([...list].sort((a, b) => b.date.localeCompare(a.date)), (s) => [
      h('strong', {}, coding(s.code)), ` · ${date(s.date)}`, s.outcome ? ` · ${s.outcome}` : '',
    ]));
  const plan = body(passport.screeningPlan, errorAt(errors, ['passport', 'screeningPlan']), (list) =>
    h('ul', { class: 'items' }, list.map((p) => h('li', { 'data-code': p.code.code }, plannedLine(p)))));
  return [h('h3', {}, t('screening.done')), done, h('h3', {}, t('screening.plan')), plan];
}

/** The passport's cards, in national order, for the fields present in `passport`. */
export function sectionCards(passport, errors) {
  const cards = [];
  for (const [section, field, render] of SECTIONS) {
    if (!(field in passport)) continue; // not asked: the role may not read it
    const id = `section-${section.toLowerCase().replace(/_/g, '-')}`;
    const error = errorAt(errors, ['passport', field]);
    const title = label('section', section);
    if (field === 'labResults') cards.push(labCard(id, title, passport.labResults, error));
    else if (field === 'dispensations') cards.push(dispensationsCard(id, title, passport.dispensations, error));
    else if (field === 'screenings') cards.push(card(id, title, screeningsBody(passport, errors)));
    else cards.push(card(id, title, body(passport[field], error, render)));
  }
  return cards;
}

/** "This month": the programme's check-ups due now and overdue, first on the page. */
export function thisMonthCard(passport, errors) {
  const error = errorAt(errors, ['passport', 'thisMonth']);
  const section = card('this-month', t('plan.thisMonth'),
    body(passport.thisMonth, error, (list) => h('ul', { class: 'items' },
      [...list].sort((a, b) => Number(b.overdue) - Number(a.overdue)).map((p) => h('li', { 'data-code': p.code.code }, plannedLine(p))))));
  section.classList.add('first');
  if (!error && passport.thisMonth && !passport.thisMonth.length) {
    section.querySelector('.empty').textContent = t('plan.nothingDue');
  }
  return section;
}

/** How each source answered; a failed or stale one is said in words. */
export function sourcesCard(sources) {
  return card('section-sources', t('sources.title'), h('ul', { class: 'items' }, sources.map((s) => h('li', {},
    h('strong', {}, s.source), ' ',
    s.stale ? badge('warn', t('sources.stale')) : !s.ok ? badge('bad', t('sources.failed')) : badge('ok', t('sources.ok')),
    s.fetchedAt ? h('span', { class: 'provenance' }, t('sources.fetchedAt', { date: dateTime(s.fetchedAt) })) : null,
  ))));
}

/** A contents list linking to each card. */
export function contents(cards) {
  return h('nav', { class: 'card toc', 'aria-label': t('app.contents') },
    h('ul', {}, cards.map((c) => h('li', {}, h('a', { href: `#${c.id}` }, c.querySelector('h2').textContent)))));
}

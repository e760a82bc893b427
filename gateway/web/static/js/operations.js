// Every GraphQL operation the app sends: one file each under ../graphql/, sent as written, so
// the trusted-documents manifest (`python -m gateway documents build`) lists them by hash.
const texts = new Map();

function operation(name) {
  return { name, url: new URL(`../graphql/${name}.graphql`, import.meta.url).href };
}

/** The document's text, fetched from the gateway once (same origin, the app's own file). */
export function documentText(op) {
  if (!texts.has(op.name)) {
    const loading = fetch(op.url, { credentials: 'omit' }).then((response) => {
      if (!response.ok) throw new Error(`operation ${op.name}: HTTP ${response.status}`);
      return response.text();
    });
    loading.catch(() => texts.delete(op.name)); // a failed load is tried again next time
    texts.set(op.name, loading);
  }
  return texts.get(op.name);
}

export const ME = operation('Me');
export const DEPENDANTS = operation('Dependants');
export const PATIENT_PASSPORT = operation('PatientPassport');
// ACCESS.md: a nurse reads no lab results, studies, risk behaviours, encounters or dispensations.
export const NURSE_PASSPORT = operation('NursePassport');
export const DOCTOR_PASSPORT = operation('DoctorPassport');
export const ACCESS_LOG = operation('AccessLog');
export const RESTRICT_OWN = operation('RestrictOwnSection');
export const RESTRICT_CHILD = operation('RestrictChildSection');
export const EMERGENCY_DATA = operation('EmergencyData');
// One operation per table: a source that fails takes its own table down, not the others.
export const STATS_DISPENSATIONS = operation('DispensationStats');
export const STATS_PREVALENCE = operation('PrevalenceStats');
export const STATS_CALLS = operation('AmbulanceCallStats');

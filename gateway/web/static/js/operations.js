// Every GraphQL operation the app sends, as fixed documents (so a trusted-documents
// manifest can list them by hash). Written against passport.graphql and its 2026-12 additions.
const CODING = 'fragment C on Coding { system code display displayLanguage }';
const PROVENANCE =
  'fragment P on Provenance { source region recordedAt organization { name } practitioner { name } }';

function operation(name, text, ...fragments) {
  return { name, text: [text, ...fragments].join('\n') };
}

export const ME = operation(
  'Me',
  `query Me { me { subject role iin region readableSections
    organization { bin name region } practitioner { id name } } }`,
);

export const DEPENDANTS = operation(
  'Dependants',
  'query Dependants { dependants { iin fullName birthDate age } }',
);

// The sections every reader may get, as fields of Passport.
const IDENTITY = 'identity { iin fullName birthDate age sex region provenance { ...P } }';
const CARE_TEAM =
  'careTeam { attachedOrganization { name region } generalPractitioner { name } provenance { ...P } }';
const EMERGENCY = 'emergency { bloodGroup implants { ...C } }';
const ALLERGIES =
  'allergies { substance { ...C } category criticality reactions provenance { ...P } }';
const LIFESTYLE = 'lifestyle { exerciseMinutesPerWeek sleepHoursPerDay provenance { ...P } }';
const STUDIES = 'diagnosticStudies { code { ...C } category date conclusion provenance { ...P } }';
const LABS = `labResults { test { ...C } value numericValue unit referenceRange flag resultedAt
  orderNumber provenance { ...P } }`;
const PHYSIOLOGY = `physiologicalState { pregnancy { status expectedDeliveryDate gestationalWeeks }
  bloodPressure heartRate provenance { ...P } }`;
const RISKS = 'riskBehaviours { smoking alcoholAuditC drugUse provenance { ...P } }';
const VACCINES = 'immunizations { vaccine { ...C } date doseNumber provenance { ...P } }';
const SCREENINGS = `screenings { code { ...C } date outcome provenance { ...P } }
  thisMonth: screeningPlan(months: 1) { code { ...C } name dueMonth overdue reason }
  screeningPlan(months: 12) { code { ...C } name dueMonth overdue reason }`;
const PROBLEMS = 'problems(includeResolved: true) { code { ...C } status onset provenance { ...P } }';
const MEDICINES = `currentMedications { code { ...C } name dose { value unit } timesPerDay route since
  provenance { ...P } }`;
const BODY = 'anthropometrics { weightKg heightCm bmi waistCm measuredAt provenance { ...P } }';
const ENCOUNTERS = `encounters { kind start end organization { name } practitioner { name }
  diagnosis { ...C } provenance { ...P } }`;
const DISPENSATIONS =
  'dispensations { drug { ...C } name quantity amountKzt program dispensedAt pharmacy { name } }';
const DOSE_CHECK = `doseCheck { medication { ...C } name dailyDoseMg weightKg mgPerKgPerDay
  referenceMinMgPerKgPerDay referenceMaxMgPerKgPerDay verdict note }`;
const SOURCES = 'sources { source ok stale fetchedAt error }';

function passport(name, variables, argumentsText, fields) {
  return operation(
    name,
    `query ${name}(${variables}) { passport(${argumentsText}) { iin ${fields.join('\n')} } }`,
    CODING,
    PROVENANCE,
  );
}

const ALL = [IDENTITY, CARE_TEAM, EMERGENCY, ALLERGIES, LIFESTYLE, STUDIES, LABS, PHYSIOLOGY,
  RISKS, VACCINES, SCREENINGS, PROBLEMS, MEDICINES, BODY, ENCOUNTERS, DISPENSATIONS];

export const PATIENT_PASSPORT = passport('PatientPassport', '$iin: IIN!', 'iin: $iin', [
  ...ALL, 'restrictedSections', SOURCES,
]);

// ACCESS.md: a nurse reads no lab results, studies, risk behaviours, encounters or dispensations.
const NURSE_FIELDS = [IDENTITY, CARE_TEAM, EMERGENCY, ALLERGIES, LIFESTYLE, PHYSIOLOGY, VACCINES,
  SCREENINGS, PROBLEMS, MEDICINES, BODY, DOSE_CHECK, 'restrictedSections', SOURCES];
const DOCTOR_FIELDS = [...ALL, DOSE_CHECK, 'restrictedSections', SOURCES];
const CLINICIAN_VARIABLES = '$iin: IIN!, $reason: String';
const CLINICIAN_ARGUMENTS = 'iin: $iin, breakGlassReason: $reason';

export const NURSE_PASSPORT = passport(
  'NursePassport', CLINICIAN_VARIABLES, CLINICIAN_ARGUMENTS, NURSE_FIELDS,
);
export const DOCTOR_PASSPORT = passport(
  'DoctorPassport', CLINICIAN_VARIABLES, CLINICIAN_ARGUMENTS, DOCTOR_FIELDS,
);

export const ACCESS_LOG = operation(
  'AccessLog',
  `query AccessLog($iin: IIN!) { passport(iin: $iin) { accessLog(limit: 100) {
    at role subject practitioner { name } organization { name } sections reason breakGlass basis } } }`,
);

export const RESTRICT_OWN = operation(
  'RestrictOwnSection',
  `mutation RestrictOwnSection($section: Section!, $restricted: Boolean!) {
    restrictSection(section: $section, restricted: $restricted) }`,
);

export const RESTRICT_CHILD = operation(
  'RestrictChildSection',
  `mutation RestrictChildSection($iin: IIN!, $section: Section!, $restricted: Boolean!) {
    restrictSection(iin: $iin, section: $section, restricted: $restricted) }`,
);

export const EMERGENCY_DATA = operation(
  'EmergencyData',
  `query EmergencyData($iin: IIN!, $reason: String!) { emergency(iin: $iin, reason: $reason) {
    identity { iin fullName birthDate age sex }
    bloodGroup
    allergies { substance { ...C } category criticality reactions }
    activeProblems { code { ...C } onset }
    currentMedications { code { ...C } name dose { value unit } timesPerDay route }
    implants { ...C }
    pregnancy { status expectedDeliveryDate gestationalWeeks }
    weightKg
    contacts { name relationship phones }
    complete
    ${SOURCES} } }`,
  CODING,
);

const ROW = 'key label count patients amountKzt suppressed';
// One operation per table: a source that fails takes its own table down, not the others.
export const STATS_DISPENSATIONS = operation(
  'DispensationStats',
  `query DispensationStats($from: Date!, $to: Date!, $region: String,
    $groupBy: DispensationGrouping!) { stats {
    dispensations(from: $from, to: $to, region: $region, groupBy: $groupBy) { ${ROW} } } }`,
);
export const STATS_PREVALENCE = operation(
  'PrevalenceStats',
  `query PrevalenceStats($icd10: String!, $region: String) { stats {
    prevalence(icd10: $icd10, region: $region) { ${ROW} } } }`,
);
export const STATS_CALLS = operation(
  'AmbulanceCallStats',
  `query AmbulanceCallStats($from: Date!, $to: Date!, $region: String, $groupBy: CallGrouping!) {
    stats { ambulanceCalls(from: $from, to: $to, region: $region, groupBy: $groupBy) { ${ROW} } } }`,
);

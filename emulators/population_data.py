"""Reference tables for the synthetic population: names, organisations, diseases, drugs, tests.

Clinical free text is in Russian, as Kazakhstan's clinical records mostly are; code displays
are the code systems' English names; drug names are English INNs (as DPS returns them).
"""

from __future__ import annotations

from typing import NamedTuple

ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
VACCINE = "urn:kz:vaccine"
UCUM = "http://unitsofmeasure.org"
IIN_SYSTEM = "urn:kz:iin"
BIN_SYSTEM = "urn:kz:bin"
PRACTITIONER_SYSTEM = "urn:kz:practitioner"
CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
CONTACT_ROLE_DISPLAY = {"C": "Emergency Contact", "N": "Next-of-Kin"}
ROLE_CODE_DISPLAY = {"MTH": "mother", "FTH": "father", "PRN": "parent", "GUARD": "guardian"}
# How the register words a guardian as an emergency contact of the child.
GUARDIAN_WORDS = {"MTH": "мать", "FTH": "отец", "PRN": "родитель", "GUARD": "опекун"}
# Other emergency contacts of adults: (Patient.contact relationship text or None, v2-0131 code).
ADULT_CONTACTS: tuple[tuple[str | None, str], ...] = (
    ("сын", "N"),
    ("дочь", "N"),
    ("брат", "N"),
    ("сестра", "N"),
    ("мать", "N"),
    ("отец", "N"),
    ("соседка", "C"),
    ("коллега", "C"),
    (None, "C"),
    (None, "N"),
)
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
# Displays as the code systems publish them (terminology.hl7.org).
DIAGNOSTIC_SERVICE_DISPLAY = {
    "EC": "Electrocardiac (e.g., EKG, EEC, Holter)",
    "CUS": "Cardiac Ultrasound",
    "RAD": "Radiology",
    "OTH": "Other",
}
OBSERVATION_CATEGORY_DISPLAY = {
    "vital-signs": "Vital Signs",
    "laboratory": "Laboratory",
    "social-history": "Social History",
    "exam": "Exam",
}

REGION_WEIGHTS = {"astana": 35, "almaty": 40, "shymkent": 25}
REGION_ABBR = {"astana": "AST", "almaty": "ALA", "shymkent": "SHY"}
CITY_RU = {"astana": "г. Астана", "almaty": "г. Алматы", "shymkent": "г. Шымкент"}

# Age bands (years, inclusive) and weights in per cent of the population. Source: Bureau of
# National Statistics of the Republic of Kazakhstan, population by age at the 20-million mark
# (November 2023; stat.gov.kz, as reported by sarbaz.kz): 0-17 33.7 %, 18-44 36.1 %,
# 45-59 16.0 %, 60-74 10.5 %, 75+ 3.8 %; split into bands with the 2021 census age structure
# (births of 400-450 thousand a year since 2014; 90+ about 0.3 %).
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (0, 4, 10.0),
    (5, 9, 10.0),
    (10, 14, 8.4),
    (15, 17, 5.3),
    (18, 24, 8.5),
    (25, 34, 14.0),
    (35, 44, 13.6),
    (45, 54, 10.8),
    (55, 59, 5.2),
    (60, 64, 4.6),
    (65, 74, 5.9),
    (75, 84, 3.0),
    (85, 89, 0.5),
    (90, 101, 0.3),
)

# Given names by birth cohort (the first year of each cohort), in Kazakh spelling; the Russian
# form is derived by RUSSIFY. Sources: the Bureau of National Statistics' name statistics of
# newborns (June 2023 top 10: standard.kz, "Названы самые популярные имена в Казахстане";
# Astana 2021 top 15: inbusiness.kz / baq.kz), its 30-year review 1991-2021 (caravan.kz, "За 30
# лет казахстанцы всё чаще стали называть детей арабскими именами": Азамат and Нурсултан in
# the 1990s, Бекзат 2001, then Диас, Ерасыл, Алихан); older cohorts from the names of
# Kazakhstan's adults by age in the same reviews.
KAZAKH_MALE_BY_COHORT: dict[int, tuple[str, ...]] = {
    0: ("Өмірзақ", "Жақсылық", "Мұхтар", "Болат", "Серік", "Қанат", "Талғат", "Тоқтар", "Сағындық"),
    1960: (
        "Нұрлан",
        "Қайрат",
        "Ерлан",
        "Асқар",
        "Серік",
        "Бауыржан",
        "Ғалым",
        "Талғат",
        "Ержан",
        "Марат",
        "Қанат",
        "Болат",
        "Мейрам",
        "Дархан",
        "Алмас",
    ),
    1985: (
        "Дәурен",
        "Жандос",
        "Санжар",
        "Нұрсұлтан",
        "Азамат",
        "Бекзат",
        "Дамир",
        "Айбек",
        "Арман",
        "Диас",
        "Темірлан",
        "Нұржан",
        "Ақжол",
        "Рахат",
    ),
    2005: (
        "Ерасыл",
        "Диас",
        "Алихан",
        "Нұрислам",
        "Темірлан",
        "Санжар",
        "Айсұлтан",
        "Әділет",
        "Бекзат",
        "Ислам",
        "Ілияс",
        "Ұлан",
    ),
    2017: (
        "Әлихан",
        "Алдияр",
        "Әмір",
        "Омар",
        "Алан",
        "Айсұлтан",
        "Мұхаммед",
        "Нұрислам",
        "Хамза",
        "Әли",
        "Арлан",
        "Рамазан",
    ),
}
KAZAKH_FEMALE_BY_COHORT: dict[int, tuple[str, ...]] = {
    0: ("Күләш", "Бибігүл", "Шолпан", "Роза", "Ботагөз", "Қарлығаш", "Үміт", "Зәуре", "Сәуле"),
    1960: (
        "Гүлнар",
        "Айгүл",
        "Салтанат",
        "Сәуле",
        "Жұлдыз",
        "Гауһар",
        "Динара",
        "Әлия",
        "Ләззат",
        "Меруерт",
        "Жібек",
        "Мөлдір",
    ),
    1985: (
        "Әйгерім",
        "Динара",
        "Жансая",
        "Назерке",
        "Аружан",
        "Ақерке",
        "Дана",
        "Мөлдір",
        "Перизат",
        "Балауса",
        "Камила",
        "Іңкәр",
    ),
    2005: (
        "Аружан",
        "Ақерке",
        "Жансая",
        "Томирис",
        "Айару",
        "Балауса",
        "Інжу",
        "Айым",
        "Аяулым",
        "Ұлжан",
    ),
    2017: (
        "Мәдина",
        "Айлин",
        "Айша",
        "Асылым",
        "Томирис",
        "Сафия",
        "Раяна",
        "Айым",
        "Әмина",
        "Аяла",
        "Айзере",
        "Мәриям",
    ),
}
# Russian given names by birth cohort. Source: V. A. Nikonov, "Ищем имя" (1988), frequency
# tables of newborns' names by period (1950s: Владимир, Николай, Валентина, Людмила, Галина;
# 1960s-1970s: Сергей, Александр, Андрей, Елена, Ольга, Татьяна; 1978-1981: Александр,
# Алексей, Андрей), and civil registry reports since (Анастасия, Дарья, София, Артём, Максим).
RUSSIAN_MALE_BY_COHORT: dict[int, tuple[str, ...]] = {
    0: ("Владимир", "Николай", "Виктор", "Анатолий", "Юрий", "Валерий", "Геннадий"),
    1960: ("Сергей", "Александр", "Андрей", "Игорь", "Олег", "Владимир", "Алексей", "Дмитрий"),
    1985: ("Александр", "Дмитрий", "Алексей", "Евгений", "Максим", "Денис", "Андрей", "Артём"),
    2005: ("Артём", "Максим", "Александр", "Даниил", "Кирилл", "Матвей", "Михаил", "Тимур"),
}
RUSSIAN_FEMALE_BY_COHORT: dict[int, tuple[str, ...]] = {
    0: ("Валентина", "Людмила", "Галина", "Нина", "Тамара", "Лидия", "Раиса"),
    1960: ("Елена", "Ольга", "Татьяна", "Наталья", "Ирина", "Светлана", "Марина", "Оксана"),
    1985: ("Анна", "Екатерина", "Юлия", "Анастасия", "Мария", "Кристина", "Дарья", "Виктория"),
    2005: ("Анастасия", "София", "Мария", "Алиса", "Виктория", "Дарья", "Полина", "Ева"),
}
# Patronymics of Russian given names: (for a son, for a daughter).
RUSSIAN_PATRONYMIC: dict[str, tuple[str, str]] = {
    "Александр": ("Александрович", "Александровна"),
    "Сергей": ("Сергеевич", "Сергеевна"),
    "Дмитрий": ("Дмитриевич", "Дмитриевна"),
    "Андрей": ("Андреевич", "Андреевна"),
    "Алексей": ("Алексеевич", "Алексеевна"),
    "Владимир": ("Владимирович", "Владимировна"),
    "Николай": ("Николаевич", "Николаевна"),
    "Евгений": ("Евгеньевич", "Евгеньевна"),
    "Игорь": ("Игоревич", "Игоревна"),
    "Максим": ("Максимович", "Максимовна"),
    "Виктор": ("Викторович", "Викторовна"),
    "Олег": ("Олегович", "Олеговна"),
    "Анатолий": ("Анатольевич", "Анатольевна"),
    "Юрий": ("Юрьевич", "Юрьевна"),
    "Валерий": ("Валерьевич", "Валерьевна"),
    "Геннадий": ("Геннадьевич", "Геннадьевна"),
    "Денис": ("Денисович", "Денисовна"),
    "Артём": ("Артёмович", "Артёмовна"),
    "Даниил": ("Даниилович", "Данииловна"),
    "Кирилл": ("Кириллович", "Кирилловна"),
    "Матвей": ("Матвеевич", "Матвеевна"),
    "Михаил": ("Михайлович", "Михайловна"),
    "Тимур": ("Тимурович", "Тимуровна"),
}


def cohort_pool(pools: dict[int, tuple[str, ...]], birth_year: int) -> tuple[str, ...]:
    """The names of the latest cohort that began on or before the birth year."""
    return pools[max(start for start in pools if start <= birth_year)]


KAZAKH_FAMILY = (
    "Ахметов",
    "Жұмабаев",
    "Әбдірахманов",
    "Оспанов",
    "Қасымов",
    "Сейітов",
    "Нұрланов",
    "Бекмұханбетов",
    "Тоқаев",
    "Сәрсенбаев",
    "Мұқанов",
    "Исаев",
    "Омаров",
    "Серікбаев",
    "Байжанов",
    "Құдайбергенов",
    "Есенов",
    "Тұрсынов",
    "Смағұлов",
    "Жақсыбеков",
    "Әуезов",
    "Рахимов",
    "Ибраимов",
    "Мамытов",
    "Ержанов",
    "Қалиев",
    "Шәріпов",
    "Беков",
)
RUSSIFY = str.maketrans("ӘәҒғҚқҢңӨөҰұҮүҺһІі", "АаГгКкНнОоУуУуХхИи")
KAZAKH_LETTERS = frozenset("ӘәҒғҚқҢңӨөҰұҮүҺһІі")

RUSSIAN_FAMILY = (
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Петров",
    "Соколов",
    "Волков",
    "Морозов",
    "Новиков",
    "Фёдоров",
    "Лебедев",
    "Козлов",
    "Ким",
    "Пак",
    "Цой",
    "Шевченко",
    "Бойко",
)
# Family names with no feminine form.
INVARIANT_FAMILY = frozenset({"Ким", "Пак", "Цой", "Шевченко", "Бойко"})

MOBILE_PREFIXES = ("701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778")


class OrgTemplate(NamedTuple):
    """An organisation kind and how many of it each region has."""

    type: str
    display: str
    count: int
    names: tuple[str, ...]


ORG_TEMPLATES: tuple[OrgTemplate, ...] = (
    OrgTemplate(
        "polyclinic",
        "Polyclinic",
        3,
        ("Городская поликлиника №{n}", "№{n} қалалық емхана", "Семейная поликлиника №{n}"),
    ),
    OrgTemplate(
        "hospital",
        "Hospital",
        2,
        ("Городская многопрофильная больница №{n}", "Городская клиническая больница №{n}"),
    ),
    OrgTemplate(
        "ambulance-station",
        "Ambulance station",
        2,
        ("Станция скорой медицинской помощи, подстанция №{n}",),
    ),
    OrgTemplate(
        "laboratory",
        "Laboratory",
        1,
        ("Клинико-диагностическая лаборатория №{n}",),
    ),
    OrgTemplate(
        "pharmacy",
        "Pharmacy",
        3,
        ("Аптека Europharma №{n}", "Аптека Биосфера №{n}", "Аптека Садыхан №{n}"),
    ),
)


# ICD-10 titles of the Russian edition (МКБ-10) the national EHRs display: every ICD-10 coding
# an EHR holds uses these, whatever the record's origin (clinic, hospital, ambulance transfer).
ICD10_RU: dict[str, str] = {
    "A09.9": "Гастроэнтерит и колит неуточненного происхождения",
    "C50.9": "Злокачественное новообразование молочной железы неуточненной части",
    "D25.9": "Лейомиома матки неуточненная",
    "E03.9": "Гипотиреоз неуточненный",
    "E10.9": "Инсулинзависимый сахарный диабет без осложнений",
    "E11.9": "Инсулиннезависимый сахарный диабет без осложнений",
    "E78.0": "Чистая гиперхолестеринемия",
    "H66.9": "Средний отит неуточненный",
    "I10": "Эссенциальная [первичная] гипертензия",
    "I20.0": "Нестабильная стенокардия",
    "I21.0": "Острый трансмуральный инфаркт передней стенки миокарда",
    "I25.1": "Атеросклеротическая болезнь сердца",
    "I35.0": "Аортальный (клапанный) стеноз",
    "I44.2": "Предсердно-желудочковая блокада полная",
    "I48.9": "Фибрилляция и трепетание предсердий неуточненные",
    "I63.9": "Инфаркт мозга неуточненный",
    "J03.9": "Острый тонзиллит неуточненный",
    "J06.9": "Острая инфекция верхних дыхательных путей неуточненная",
    "J18.9": "Пневмония неуточненная",
    "J20.9": "Острый бронхит неуточненный",
    "J44.9": "Хроническая обструктивная легочная болезнь неуточненная",
    "J45.9": "Астма неуточненная",
    "K29.5": "Хронический гастрит неуточненный",
    "K35.8": "Острый аппендицит, другой и неуточненный",
    "K80.2": "Камни желчного пузыря без холецистита",
    "M54.5": "Боль внизу спины",
    "N10": "Острый тубулоинтерстициальный нефрит",
    "N18.3": "Хроническая болезнь почек, стадия 3",
    "N30.0": "Острый цистит",
    "S06.0": "Сотрясение головного мозга",
    "S72.0": "Перелом шейки бедра",
    "Z00.0": "Общий медицинский осмотр",
    "Z00.1": "Рутинное обследование состояния здоровья ребенка",
    "Z34.9": "Наблюдение за течением нормальной беременности неуточненной",
    "Z90.1": "Приобретенное отсутствие молочной(ых) железы(желез)",
    "Z90.7": "Приобретенное отсутствие половых органов",
    "Z95.2": "Наличие протеза сердечного клапана",
}


class Condition(NamedTuple):
    """A chronic disease: ICD-10 code and display, Russian name."""

    code: str
    display: str
    name_ru: str


CHRONIC: dict[str, Condition] = {
    c.code: c
    for c in (
        Condition("I10", "Essential (primary) hypertension", "Артериальная гипертензия"),
        Condition(
            "E11.9", "Type 2 diabetes mellitus without complications", "Сахарный диабет 2 типа"
        ),
        Condition(
            "E10.9", "Type 1 diabetes mellitus without complications", "Сахарный диабет 1 типа"
        ),
        Condition("E78.0", "Pure hypercholesterolaemia", "Гиперхолестеринемия"),
        Condition("I25.1", "Atherosclerotic heart disease", "Ишемическая болезнь сердца"),
        Condition("J45.9", "Asthma, unspecified", "Бронхиальная астма"),
        Condition("J44.9", "Chronic obstructive pulmonary disease, unspecified", "ХОБЛ"),
        Condition("N18.3", "Chronic kidney disease, stage 3", "ХБП 3 стадии"),
        Condition(
            "I48.9", "Atrial fibrillation and atrial flutter, unspecified", "Фибрилляция предсердий"
        ),
        Condition("I44.2", "Atrioventricular block, complete", "Полная АВ-блокада"),
        Condition("I35.0", "Aortic (valve) stenosis", "Стеноз аортального клапана"),
        Condition("E03.9", "Hypothyroidism, unspecified", "Гипотиреоз"),
        Condition("K29.5", "Chronic gastritis, unspecified", "Хронический гастрит"),
        Condition(
            "Z34.9", "Supervision of normal pregnancy, unspecified", "Нормальная беременность"
        ),
    )
}


class Drug(NamedTuple):
    """A medicine as DPS and the EHR know it; price per unit dispensed (tablet, inhaler, pen)."""

    atc: str
    inn: str
    trade: str
    form: str
    strength: float
    unit: str
    route: str
    price_kzt: float
    units_per_pack: int  # strength units in one dispensed item (puffs, ml); 1 for tablets


DRUGS: dict[str, Drug] = {
    d.atc: d
    for d in (
        Drug("A10BA02", "metformin", "Siofor", "tablet", 500, "mg", "oral", 24.5, 1),
        Drug("A10BB09", "gliclazide", "Diabeton MR", "tablet", 60, "mg", "oral", 48.0, 1),
        Drug(
            "A10AE04",
            "insulin glargine",
            "Lantus SoloStar",
            "pen",
            100,
            "IU",
            "subcutaneous",
            4620.0,
            3,
        ),
        Drug(
            "A10AB05",
            "insulin aspart",
            "NovoRapid FlexPen",
            "pen",
            100,
            "IU",
            "subcutaneous",
            3980.0,
            3,
        ),
        Drug("C08CA01", "amlodipine", "Amlodipine Vertex", "tablet", 5, "mg", "oral", 11.8, 1),
        Drug("C09AA02", "enalapril", "Enap", "tablet", 10, "mg", "oral", 9.6, 1),
        Drug("C09AA03", "lisinopril", "Diroton", "tablet", 10, "mg", "oral", 17.3, 1),
        Drug("C09CA01", "losartan", "Lozap", "tablet", 50, "mg", "oral", 36.4, 1),
        Drug("C03BA11", "indapamide", "Arifon retard", "tablet", 1.5, "mg", "oral", 41.2, 1),
        Drug("C07AB07", "bisoprolol", "Concor", "tablet", 5, "mg", "oral", 29.9, 1),
        Drug("C10AA05", "atorvastatin", "Atoris", "tablet", 20, "mg", "oral", 58.7, 1),
        Drug("C10AA07", "rosuvastatin", "Crestor", "tablet", 10, "mg", "oral", 112.5, 1),
        Drug(
            "B01AC06", "acetylsalicylic acid", "Cardiomagnyl", "tablet", 75, "mg", "oral", 21.4, 1
        ),
        Drug("B01AC04", "clopidogrel", "Plavix", "tablet", 75, "mg", "oral", 95.0, 1),
        Drug("B01AF02", "apixaban", "Eliquis", "tablet", 5, "mg", "oral", 312.0, 1),
        Drug("B01AA03", "warfarin", "Warfarin Nycomed", "tablet", 2.5, "mg", "oral", 14.2, 1),
        Drug("R03AC02", "salbutamol", "Ventolin", "inhaler", 100, "ug", "inhalation", 1480.0, 200),
        Drug(
            "R03AK07",
            "budesonide and formoterol",
            "Symbicort Turbuhaler",
            "inhaler",
            160,
            "ug",
            "inhalation",
            8950.0,
            120,
        ),
        Drug(
            "R03BB04", "tiotropium bromide", "Spiriva", "capsule", 18, "ug", "inhalation", 512.0, 1
        ),
        Drug(
            "R03BA02",
            "budesonide",
            "Pulmicort",
            "suspension",
            250,
            "ug",
            "inhalation",
            95.0,
            2,
        ),
        Drug("C03CA01", "furosemide", "Furosemide", "tablet", 40, "mg", "oral", 6.5, 1),
        Drug(
            "H03AA01",
            "levothyroxine sodium",
            "L-Thyroxin Berlin-Chemie",
            "tablet",
            50,
            "ug",
            "oral",
            19.8,
            1,
        ),
        Drug("A02BC01", "omeprazole", "Omez", "capsule", 20, "mg", "oral", 22.0, 1),
        Drug("N02BE01", "paracetamol", "Panadol", "suspension", 24, "mg", "oral", 945.0, 100),
        Drug("M01AE01", "ibuprofen", "Nurofen", "suspension", 20, "mg", "oral", 1350.0, 100),
        Drug("J01CA04", "amoxicillin", "Flemoxin Solutab", "tablet", 250, "mg", "oral", 58.0, 1),
        Drug(
            "J01CR02",
            "amoxicillin and beta-lactamase inhibitor",
            "Augmentin",
            "suspension",
            80,
            "mg",
            "oral",
            3890.0,
            70,
        ),
        Drug("J01FA10", "azithromycin", "Sumamed", "suspension", 40, "mg", "oral", 2870.0, 20),
        Drug("J01DC02", "cefuroxime", "Zinnat", "suspension", 25, "mg", "oral", 4210.0, 100),
        Drug("B01AB05", "enoxaparin", "Clexane", "syringe", 40, "mg", "subcutaneous", 1650.0, 1),
        Drug("H02AB06", "prednisolone", "Prednisolone", "tablet", 5, "mg", "oral", 4.1, 1),
        Drug("J01GB03", "gentamicin", "Gentamicin", "ampoule", 80, "mg", "intravenous", 95.0, 1),
    )
}


class Regimen(NamedTuple):
    """A maintenance regimen: drug, dose per intake and intakes per day."""

    atc: str
    dose: float
    times_per_day: int


# Maintenance medicines for each chronic disease; one option is picked per group.
CHRONIC_REGIMENS: dict[str, tuple[tuple[Regimen, ...], ...]] = {
    "I10": (
        (
            Regimen("C08CA01", 5, 1),
            Regimen("C08CA01", 10, 1),
            Regimen("C09AA02", 10, 2),
            Regimen("C09AA03", 10, 1),
            Regimen("C09AA03", 20, 1),
            Regimen("C09CA01", 50, 1),
        ),
        (Regimen("C03BA11", 1.5, 1), Regimen("C07AB07", 5, 1)),
    ),
    "E11.9": (
        (Regimen("A10BA02", 500, 2), Regimen("A10BA02", 850, 2), Regimen("A10BA02", 1000, 2)),
        (Regimen("A10BB09", 60, 1),),
    ),
    "E10.9": ((Regimen("A10AE04", 20, 1),), (Regimen("A10AB05", 6, 3),)),
    "E78.0": ((Regimen("C10AA05", 20, 1), Regimen("C10AA05", 40, 1), Regimen("C10AA07", 10, 1)),),
    "I25.1": (
        (Regimen("B01AC06", 75, 1), Regimen("B01AC04", 75, 1)),
        (Regimen("C10AA05", 40, 1),),
        (Regimen("C07AB07", 5, 1),),
    ),
    "J45.9": ((Regimen("R03AC02", 200, 2),), (Regimen("R03AK07", 160, 2),)),
    "J44.9": ((Regimen("R03BB04", 18, 1),), (Regimen("R03AC02", 200, 3),)),
    "N18.3": ((Regimen("C03CA01", 40, 1),),),
    "I48.9": ((Regimen("B01AF02", 5, 2), Regimen("B01AA03", 5, 1)),),
    "I35.0": ((Regimen("B01AA03", 5, 1),),),
    "E03.9": ((Regimen("H03AA01", 50, 1), Regimen("H03AA01", 75, 1), Regimen("H03AA01", 100, 1)),),
    "K29.5": ((Regimen("A02BC01", 20, 1), Regimen("A02BC01", 20, 2)),),
}

# A child's alternative when the group's drug is not licensed at the child's age.
PAEDIATRIC_ALTERNATIVES: dict[str, Regimen] = {"R03AK07": Regimen("R03BA02", 250, 2)}

# The youngest age (in months) each medicine is licensed for, with the product information it
# comes from (EMC = electronic Medicines Compendium, medicines.org.uk SmPC; EMA EPAR product
# information). 0 = from birth or no lower limit in the licence (dosed by weight).
MIN_AGE_MONTHS: dict[str, tuple[int, str]] = {
    "A10BA02": (120, "Glucophage SmPC (EMC): children from 10 years"),
    "A10BB09": (216, "Diamicron MR SmPC (EMC): not for children"),
    "A10AE04": (24, "Lantus EPAR product information (EMA): children from 2 years"),
    "A10AB05": (12, "NovoRapid EPAR product information (EMA): children from 1 year"),
    "C08CA01": (72, "Istin (amlodipine) SmPC (EMC): hypertension in children from 6 years"),
    "C09AA02": (72, "Innovace (enalapril) SmPC (EMC): hypertension in children 6-16 years"),
    "C09AA03": (72, "Zestril (lisinopril) SmPC (EMC): hypertension in children 6-16 years"),
    "C09CA01": (72, "Cozaar (losartan) SmPC (EMC): hypertension in children from 6 years"),
    "C03BA11": (216, "Natrilix SR (indapamide) SmPC (EMC): not for children"),
    "C07AB07": (216, "Cardicor (bisoprolol) SmPC (EMC): no paediatric use"),
    "C10AA05": (120, "Lipitor (atorvastatin) SmPC (EMC): children from 10 years"),
    "C10AA07": (72, "Crestor (rosuvastatin) SmPC (EMC): children from 6 years"),
    "B01AC06": (192, "Aspirin 75 mg SmPC (EMC): not under 16 (Reye's syndrome)"),
    "B01AC04": (216, "Plavix EPAR product information (EMA): not for children"),
    "B01AF02": (216, "Eliquis 5 mg EPAR product information (EMA): adults"),
    "B01AA03": (216, "Warfarin SmPC (EMC): children only under specialist care"),
    "R03AC02": (0, "Ventolin Evohaler SmPC (EMC): children, with a spacer when young"),
    "R03AK07": (144, "Symbicort Turbohaler 200/6 (160/4.5) SmPC (EMC): from 12 years"),
    "R03BA02": (6, "Pulmicort Respules SmPC (EMC): children from 6 months"),
    "R03BB04": (216, "Spiriva HandiHaler SmPC (EMC): adults (COPD)"),
    "C03CA01": (0, "Furosemide tablets SmPC (EMC): children, dose by weight"),
    "H03AA01": (0, "Levothyroxine SmPC (EMC): neonates and children"),
    "A02BC01": (12, "Losec (omeprazole) SmPC (EMC): children from 1 year"),
    "N02BE01": (2, "Calpol Infant suspension SmPC (EMC): from 2 months"),
    "M01AE01": (3, "Nurofen for Children suspension SmPC (EMC): from 3 months"),
    "J01CA04": (0, "Amoxil suspension SmPC (EMC): children, dose by weight"),
    "J01CR02": (2, "Augmentin 400/57 suspension SmPC (EMC): from 2 months"),
    "J01FA10": (6, "Zithromax suspension SmPC (EMC): children from 6 months"),
    "J01DC02": (3, "Zinnat suspension SmPC (EMC): children from 3 months"),
    "B01AB05": (216, "Clexane SmPC (EMC): not for children"),
    "H02AB06": (0, "Prednisolone SmPC (EMC): children, dose by weight"),
    "J01GB03": (0, "Gentamicin injection SmPC (EMC): neonates and children"),
}

# Weight-based children's courses: (ATC, mg/kg per intake, intakes/day, course days, indication).
CHILD_COURSES: tuple[tuple[str, float, int, int], ...] = (
    ("N02BE01", 15.0, 4, 3),
    ("M01AE01", 10.0, 3, 3),
    ("J01CA04", 25.0, 2, 7),
    ("J01CR02", 22.5, 2, 7),
    ("J01FA10", 10.0, 1, 3),
    ("J01DC02", 15.0, 2, 7),
)
ANTIBIOTICS = frozenset({"J01CA04", "J01CR02", "J01FA10", "J01DC02"})
PENICILLINS = frozenset({"J01CA04", "J01CR02"})
NSAIDS = frozenset({"M01AE01", "B01AC06"})


class Acute(NamedTuple):
    """An acute illness: ICD-10 code, display, Russian name, encounter class."""

    code: str
    display: str
    name_ru: str


CHILD_ACUTE = (
    Acute("J06.9", "Acute upper respiratory infection, unspecified", "ОРВИ"),
    Acute("J20.9", "Acute bronchitis, unspecified", "Острый бронхит"),
    Acute("H66.9", "Otitis media, unspecified", "Острый средний отит"),
    Acute("J03.9", "Acute tonsillitis, unspecified", "Острый тонзиллит"),
    Acute("A09.9", "Gastroenteritis and colitis of unspecified origin", "Гастроэнтерит"),
    Acute("J18.9", "Pneumonia, unspecified", "Внебольничная пневмония"),
)
ADULT_ACUTE = (
    Acute("J06.9", "Acute upper respiratory infection, unspecified", "ОРВИ"),
    Acute("J20.9", "Acute bronchitis, unspecified", "Острый бронхит"),
    Acute("N30.0", "Acute cystitis", "Острый цистит"),
    Acute("M54.5", "Low back pain", "Боль в пояснице"),
    Acute("J18.9", "Pneumonia, unspecified", "Внебольничная пневмония"),
)
INPATIENT_ACUTE = (
    Acute("J18.9", "Pneumonia, unspecified", "Внебольничная пневмония"),
    Acute("K35.8", "Acute appendicitis, other and unspecified", "Острый аппендицит"),
    Acute("K80.2", "Calculus of gallbladder without cholecystitis", "Желчнокаменная болезнь"),
    Acute("S72.0", "Fracture of neck of femur", "Перелом шейки бедра"),
    Acute("I63.9", "Cerebral infarction, unspecified", "Ишемический инсульт"),
    Acute("N10", "Acute tubulo-interstitial nephritis", "Острый пиелонефрит"),
)

# Allergens: (system, code, display, category, Russian reactions, excluded drug ATC codes).
ALLERGENS: tuple[tuple[str, str, str, str, tuple[str, ...], frozenset[str]], ...] = (
    (
        SNOMED,
        "764146007",
        "Penicillin",
        "medication",
        ("крапивница", "отёк Квинке", "анафилаксия"),
        PENICILLINS,
    ),
    (ATC, "J01CA04", "amoxicillin", "medication", ("сыпь", "крапивница"), PENICILLINS),
    (SNOMED, "387458008", "Aspirin", "medication", ("бронхоспазм", "крапивница"), NSAIDS),
    (ATC, "M01AE01", "ibuprofen", "medication", ("отёк Квинке", "сыпь"), NSAIDS),
    (SNOMED, "256259004", "Pollen", "environment", ("ринит", "конъюнктивит"), frozenset()),
    (SNOMED, "260147004", "House dust mite", "environment", ("ринит", "бронхоспазм"), frozenset()),
    (SNOMED, "288328004", "Bee venom", "environment", ("отёк Квинке", "анафилаксия"), frozenset()),
    (SNOMED, "256349002", "Peanut", "food", ("крапивница", "анафилаксия"), frozenset()),
    (SNOMED, "3718001", "Cow's milk", "food", ("диарея", "сыпь"), frozenset()),
    (SNOMED, "102263004", "Eggs", "food", ("крапивница", "рвота"), frozenset()),
)

# National vaccination calendar: (vaccine, dose number, age in days at the dose).
CHILD_CALENDAR: tuple[tuple[str, str, int, int], ...] = (
    ("BCG", "Bacillus Calmette-Guerin vaccine", 1, 2),
    ("HepB", "Hepatitis B vaccine", 1, 1),
    ("HepB", "Hepatitis B vaccine", 2, 61),
    ("HepB", "Hepatitis B vaccine", 3, 122),
    ("DTP", "Diphtheria, tetanus and pertussis vaccine", 1, 61),
    ("DTP", "Diphtheria, tetanus and pertussis vaccine", 2, 92),
    ("DTP", "Diphtheria, tetanus and pertussis vaccine", 3, 122),
    ("DTP", "Diphtheria, tetanus and pertussis vaccine", 4, 548),
    ("DTP", "Diphtheria, tetanus and pertussis vaccine", 5, 2192),
    ("IPV", "Inactivated poliovirus vaccine", 1, 61),
    ("IPV", "Inactivated poliovirus vaccine", 2, 92),
    ("IPV", "Inactivated poliovirus vaccine", 3, 122),
    ("Hib", "Haemophilus influenzae type b vaccine", 1, 61),
    ("Hib", "Haemophilus influenzae type b vaccine", 2, 92),
    ("Hib", "Haemophilus influenzae type b vaccine", 3, 122),
    ("Hib", "Haemophilus influenzae type b vaccine", 4, 548),
    ("PCV", "Pneumococcal conjugate vaccine", 1, 61),
    ("PCV", "Pneumococcal conjugate vaccine", 2, 122),
    ("PCV", "Pneumococcal conjugate vaccine", 3, 365),
    ("MMR", "Measles, mumps and rubella vaccine", 1, 365),
    ("MMR", "Measles, mumps and rubella vaccine", 2, 2192),
)
VACCINE_DISPLAY = {
    "BCG": "Bacillus Calmette-Guerin vaccine",
    "HepB": "Hepatitis B vaccine",
    "DTP": "Diphtheria, tetanus and pertussis vaccine",
    "IPV": "Inactivated poliovirus vaccine",
    "Hib": "Haemophilus influenzae type b vaccine",
    "PCV": "Pneumococcal conjugate vaccine",
    "MMR": "Measles, mumps and rubella vaccine",
    "HPV": "Human papillomavirus vaccine",
    "Td": "Tetanus and diphtheria toxoids",
    "Flu": "Influenza vaccine",
}


class Screening(NamedTuple):
    """A check-up of the national screening programme."""

    code: str
    display: str
    sex: str | None  # "female" / "male" / None for both
    min_age: int
    max_age: int


SCREENINGS: tuple[Screening, ...] = (
    Screening("171222001", "Hypertension screening", None, 40, 70),
    Screening("171183004", "Diabetes mellitus screening", None, 40, 70),
    Screening("171205003", "Glaucoma screening", None, 40, 70),
    Screening("71651007", "Mammography", "female", 40, 70),
    Screening("171149006", "Cervical smear test", "female", 30, 70),
    Screening("104435004", "Faecal occult blood test", None, 50, 70),
)
# Exclusions of the screening programme (gateway/data/screening_programme.json, KR DSM-174/2020
# Appendix 1): the target groups are people "not under dynamic observation" for the diseases
# named, so an active problem-list condition of these ICD-10 categories excludes the person;
# the removal of the screened organ (SNOMED CT procedure) excludes for good.
# screening code -> (ICD-10 category prefixes, procedure codes)
CARDIO_METABOLIC = (
    "I10", "I11", "I12", "I13", "I15",  # arterial hypertension
    "I20", "I21", "I22", "I23", "I24", "I25",  # coronary heart disease
    "E10", "E11", "E12", "E13", "E14",  # diabetes mellitus
    "H40", "H42",  # glaucoma
)  # fmt: skip
SCREENING_EXCLUSIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "171222001": (CARDIO_METABOLIC, ()),
    "171183004": (CARDIO_METABOLIC, ()),
    "171205003": (CARDIO_METABOLIC, ()),
    "71651007": (("C50",), ("172043006",)),
    "171149006": (("C53",), ("116140006",)),
    "104435004": (("C18", "C19", "C20"), ()),
}


class OrganRemoval(NamedTuple):
    """A past operation removing a screened organ, its reason and what remains on the list."""

    snomed: str
    display: str
    reason: str  # ICD-10 of the disease operated on (problem list, no longer active)
    reason_status: str
    absence: str  # ICD-10 Z90.x, acquired absence of the organ (problem list, active)
    min_age: int
    chance: float


ORGAN_REMOVALS: tuple[OrganRemoval, ...] = (
    OrganRemoval("116140006", "Total hysterectomy", "D25.9", "resolved", "Z90.7", 40, 0.04),
    OrganRemoval("172043006", "Simple mastectomy", "C50.9", "remission", "Z90.1", 40, 0.02),
)
SCREENING_OUTCOMES = ("Без патологии", "Норма", "Выявлены отклонения, направлен к специалисту")

# Diagnostic studies: key -> (LOINC, display, v2-0074 category, Russian conclusions).
STUDIES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "ecg": (
        "11524-6",
        "EKG study",
        "EC",
        (
            "Синусовый ритм, ЧСС 72 в мин. Нормальное положение ЭОС.",
            "Синусовый ритм. Признаки гипертрофии левого желудочка.",
            "Синусовая тахикардия. Неполная блокада правой ножки пучка Гиса.",
        ),
    ),
    "ecg-af": ("11524-6", "EKG study", "EC", ("Фибрилляция предсердий, ЧЖС 88 в мин.",)),
    "ecg-pacer": ("11524-6", "EKG study", "EC", ("Ритм электрокардиостимулятора, ЧСС 60 в мин.",)),
    "xray": (
        "36643-5",
        "XR Chest 2 Views",
        "RAD",
        ("Без очаговых и инфильтративных изменений.", "Корни структурны, синусы свободны."),
    ),
    "xray-pneumonia": (
        "36643-5",
        "XR Chest 2 Views",
        "RAD",
        ("Инфильтрация в нижней доле правого лёгкого.", "Очаговая пневмония слева в S9-S10."),
    ),
    "us-abdomen": (
        "24558-9",
        "US Abdomen",
        "RAD",
        ("Без эхопатологии.", "Диффузные изменения печени.", "Конкременты желчного пузыря."),
    ),
    "us-heart": (
        "42148-7",
        "US Heart",
        "CUS",
        (
            "Фракция выброса 58%. Гипертрофия миокарда ЛЖ.",
            "Фракция выброса 61%. Стеноз аортального клапана умеренный.",
        ),
    ),
    "us-heart-valve": (
        "42148-7",
        "US Heart",
        "CUS",
        ("Протез аортального клапана функционирует.",),
    ),
    "us-pregnancy": (
        "11525-3",
        "US Pelvis Fetus for pregnancy",
        "RAD",
        ("Беременность прогрессирующая, соответствует сроку.",),
    ),
}

# Laboratory tests: code -> (LOINC or None, Russian name, unit, reference range text).
LAB_TESTS: dict[str, tuple[str | None, str, str | None, str]] = {
    "GLU": ("14749-6", "Глюкоза", "mmol/L", "3.9-6.1"),
    "HBA1C": ("4548-4", "Гликированный гемоглобин (HbA1c)", "%", "4.0-6.0"),
    "HGB": ("718-7", "Гемоглобин", "g/L", "120-160"),
    "WBC": ("6690-2", "Лейкоциты", "10*9/L", "4.0-9.0"),
    "PLT": ("777-3", "Тромбоциты", "10*9/L", "150-400"),
    "ESR": ("30341-2", "СОЭ", "mm/h", "2-15"),
    "CHOL": ("14647-2", "Холестерин общий", "mmol/L", "3.0-5.2"),
    "CREA": ("14682-9", "Креатинин", "umol/L", "53-106"),
    "CRP": ("1988-5", "С-реактивный белок", "mg/L", "0-5"),
    "TSH": ("3016-3", "ТТГ", "mIU/L", "0.4-4.0"),
    "HBSAG": ("5196-1", "HBsAg", None, "negative"),
    "INR": ("6301-6", "МНО", None, "0.8-1.2"),
}

# Ambulance reasons: (complaint, ICD-10, Russian diagnosis, minimum age, chronic code or None).
AMBULANCE_REASONS: tuple[tuple[str, str, str, int, str | None], ...] = (
    ("Боль в груди", "I20.0", "Нестабильная стенокардия", 40, "I25.1"),
    ("Боль в груди", "I21.0", "Острый трансмуральный инфаркт передней стенки миокарда", 45, None),
    ("Головная боль, повышенное АД", "I10", "Гипертонический криз", 30, "I10"),
    ("Одышка, приступ удушья", "J45.9", "Приступ бронхиальной астмы", 3, "J45.9"),
    ("Высокая температура", "J06.9", "ОРВИ, гипертермия", 0, None),
    ("Травма головы", "S06.0", "Сотрясение головного мозга", 0, None),
    ("Слабость в правых конечностях", "I63.9", "Ишемический инсульт", 50, None),
    ("Боль в животе", "K35.8", "Острый аппендицит", 5, None),
    ("Жажда, слабость", "E11.9", "Декомпенсация сахарного диабета", 35, "E11.9"),
)

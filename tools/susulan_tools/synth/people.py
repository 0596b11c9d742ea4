"""Realistic (invented) Sumenep patients and Puskesmas visits for sample forms.

Everything is drawn from a seeded :class:`numpy.random.Generator`. Values are in
export form: dates ``YYYY-MM-DD``, times ``HH:MM``, letters upper-case and
single-spaced, digits as strings exactly as written (leading zeros kept),
choice = option value, blank = ``""``.

- Names: Madurese / Indonesian, older and younger generations, sex consistent with
  the name; no dots (``MOH HOLILI``, ``ABD RAHMAN``), at most 24 letters.
- Villages: the 20 desa of Kecamatan Bluto (``pipeline/data/wilayah.csv``).
- NIK: ``PPKKCC`` region (mostly Bluto ``352905``; some people still carry a NIK
  from a neighbouring Sumenep kecamatan) + ``DDMMYY`` birth date (day + 40 for
  women) + 4-digit sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from pipeline import regions

KECAMATAN = "35.29.05"
NEIGHBOURS = ("35.29.06", "35.29.11", "35.29.07", "35.29.08", "35.29.01")
FIRST_DAY = date(2025, 10, 30)
LAST_DAY = date(2026, 9, 30)
MAX_QUEUE = 150
POLI_SHARE = {"umum": 0.48, "gigi": 0.1, "kia": 0.14, "mtbs": 0.1, "lansia": 0.18}

MALE_OLD = (
    "HOLILI SUPANDI SUHARTO MISNADI SUNARTO FAUZI RASYID JUMALI HASAN HOSAIN SUHAIMI MATRONI SUKRI SUBAIDI "
    "TOHA BAHRI HAMDI JAMALUDDIN SUYITNO BUSRI MISTARI SUPARDI RIYADI SAHRAWI HAIRUL HOLIS HOTIB SUNAWI "
    "SUHDI IMAM MASRUR SAMHARI MARZUKI JUMADI SARKAWI SUDARSO ABDULLAH AMIN SUTRISNO SAIFUDDIN HAFID MUHLIS "
    "MUZAKKI SALEH SUHAIRI SUKARDI MARSUKI HOSNAN NASIR TAUFIK SAMSUDIN RAHMAT ROSIDI BASRI SAMSURI HOLIQ "
    "HANNAN JAILANI MUSLIM SUKAMTO RUSDI"
).split() + ["SAMSUL ARIFIN", "ZAINAL ABIDIN", "KHOIRUL ANAM", "FATHOR RAHMAN", "BADRUS SHOLEH",
             "SYAIFUL BAHRI", "NURUL HUDA", "MOH ALI"]
MALE_PREFIX = ("MOH", "ACH", "MUHAMMAD", "AHMAD")
ABD_NAMES = "RAHMAN HALIM WAHED ROZAK MAJID GHONI SAMAD KADIR AZIZ MANAN HAMID".split()
FEMALE_OLD = (
    "SUHARTINI SAMSIYAH HOLIFAH MAISAROH SUNIYAH SATIMAH MARYAMAH SAIDAH JUMAITI HALIMAH ROHANI MUSLIHAH "
    "SUMIATI RUKAYYAH FATIMAH HOSNIYAH ASIYAH SUKARTI SULIHA KHOTIMAH ZAINAB NURHAYATI SUTIYAH RUMLAH "
    "SUMAIYAH MARFUAH SAHRIYAH MUNAWAROH ROFIQOH HASANAH SUNARSIH SUPIYANI SUTINAH MUNIRAH SAKINAH HODRIYAH "
    "MAHMUDAH ARIFAH SAMIRAH HAMIDAH JUHAIRIYAH MISNATUN SUMARNI SUHARNI HOSIYAH SAMIYAH WATINI"
).split() + ["SITI AMINAH", "NUR HASANAH", "NURUL HIDAYAH", "LAILATUL QOMARIYAH", "UMMI KULSUM",
             "SRI WAHYUNI", "NIKMATUS SHOLIHAH", "SITI ROMLAH", "SITI FATIMAH", "SITI MARYAM", "SITI KHOTIJAH"]
MALE_YOUNG = (
    "RIZKI FAUZAN FAIRUZ ZAKI IQBAL RIFQI DIMAS ALFIAN FERDI ILHAM RAFA ALFATIH AZKA ZIDAN HAFIDZ REZA FIRMAN "
    "ADITYA ARYA ALDI HABIBULLAH SYAHRUL FARHAN NAUFAL FIKRI AKBAR"
).split()
MALE_SURNAME = "PRATAMA SAPUTRA RAMADHAN MAULANA HIDAYAT FIRMANSYAH ALFARIZI AKBAR SETIAWAN HAKIM".split()
FEMALE_YOUNG = (
    "NAYLA AISYAH ZAHRA DEWI FITRIYAH SALSABILA NABILA RIZKA SILVIA AULIA INDAH MAULIDA ANISA SINTA ALIFIA "
    "KIRANA NAJWA HILYA ADIBA NADIA AMELIA"
).split() + ["NUR AINI", "KHOIRUN NISA", "QOTRUN NADA", "LAILATUL FITRIYAH", "NURUL AINI"]
FEMALE_SURNAME = "PUTRI SAFITRI RAHMAWATI LESTARI AULIA NINGSIH AMELIA AZZAHRA RAHMA NURIYAH".split()

DUSUN = (
    "KRAJAN LAOK DAJA TEMOR TENGAH BUNGIN PANDIAN SOMBER TAMBAK NANGGER ROMBASAN CANDI POJUR ANDULANG "
    "BRAKAS PESISIR BANYOR GEDDUNGAN"
).split() + ["BATU AMPAR", "BATO PAOK", "SOMBER NANGKA", "KARANG ANYAR"]
STREETS = ("JL RAYA BLUTO", "JL RAYA SUMENEP", "JL PESANTREN", "JL MASJID", "JL PELABUHAN", "JL PASAR BLUTO",
           "JL RAYA PAMEKASAN", "JL BALAI DESA", "JL KAMBOJA", "JL MELATI")
PHONE_PREFIX = ("0812", "0813", "0821", "0822", "0852", "0853", "0819", "0859", "0877", "0878", "0831", "0838",
                "0895", "0896", "0881")
COMPLAINTS = {
    "umum": ("demam 3 hari", "batuk pilek", "pusing", "nyeri ulu hati", "gatal gatal", "diare 2 hari",
             "sesak napas", "kontrol tensi", "batuk 1 minggu", "luka di kaki", "sakit kepala", "mual muntah",
             "nyeri pinggang", "mata merah", "surat sehat"),
    "gigi": ("sakit gigi", "gigi berlubang", "cabut gigi", "gusi bengkak", "gigi goyang", "sakit gigi geraham"),
    "kia": ("periksa hamil", "kontrol kehamilan", "imunisasi", "KB suntik", "kontrol nifas", "timbang bayi"),
    "mtbs": ("anak demam", "diare", "batuk pilek", "mencret 2 hari", "demam dan batuk", "ruam kulit"),
    "lansia": ("kontrol tensi", "kontrol gula", "nyeri lutut", "pegal linu", "pusing", "sesak napas",
               "kontrol kolesterol", "susah tidur"),
}


@dataclass(frozen=True)
class Patient:
    """One invented person, values as written on a form."""

    name: str
    sex: str
    birth_date: date
    nik: str
    bpjs_no: str
    phone: str
    address: str
    rt: str
    rw: str
    village: str
    village_code: str


@dataclass(frozen=True)
class Visit:
    """One patient's visit on one day."""

    patient: Patient
    visit_date: date
    queue_no: int
    arrival_time: str
    visit_type: str
    rm_no: str
    poli: str
    payment: str
    complaint: str


@lru_cache(maxsize=8)
def villages(kecamatan: str = KECAMATAN) -> tuple[tuple[str, str], ...]:
    """``(code, NAME)`` of every desa/kelurahan of a kecamatan, names upper-cased as written on forms."""
    prefix = kecamatan + "."
    return tuple(sorted((k, " ".join(v.upper().split())) for k, v in regions.codes().items()
                        if k.startswith(prefix) and k.count(".") == 3))


def _pick(rng: np.random.Generator, items: tuple[str, ...] | list[str]) -> str:
    return str(items[int(rng.integers(len(items)))])


def make_name(rng: np.random.Generator, sex: str, age: int, max_len: int = 24) -> str:
    """A Madurese/Indonesian name for ``sex`` (``L``/``P``) and generation, at most ``max_len`` letters."""
    young = age < 17 or (age < 35 and rng.random() < 0.6)
    for _ in range(50):
        if sex == "L" and young:
            name = _pick(rng, MALE_YOUNG)
            name = f"{_pick(rng, MALE_PREFIX)} {name}" if rng.random() < 0.5 else name
            name += f" {_pick(rng, MALE_SURNAME)}" if rng.random() < 0.6 else ""
        elif sex == "L":
            r = rng.random()
            if r < 0.15:
                name = f"ABD {_pick(rng, ABD_NAMES)}"
            elif r < 0.45:
                name = f"{_pick(rng, MALE_PREFIX[:2])} {_pick(rng, MALE_OLD)}"
            else:
                name = _pick(rng, MALE_OLD)
        elif young:
            name = _pick(rng, FEMALE_YOUNG)
            name += f" {_pick(rng, FEMALE_SURNAME)}" if rng.random() < 0.65 else ""
        else:
            name = f"SITI {_pick(rng, FEMALE_OLD)}" if rng.random() < 0.1 else _pick(rng, FEMALE_OLD)
        if len(name) <= max_len and len(set(name.split())) == len(name.split()):
            return name
    return "SITI AMINAH" if sex == "P" else "MOH HOLILI"


def short_name(name: str, max_len: int) -> str:
    """The name as a nurse writes it in ``max_len`` boxes: trailing words dropped until it fits."""
    words = name.split()
    while len(" ".join(words)) > max_len and len(words) > 1:
        words.pop()
    return " ".join(words)[:max_len]


def _age_days(rng: np.random.Generator, poli: str, sex: str) -> int:
    years = {
        "mtbs": (60 / 365, 5), "lansia": (60, 90), "gigi": (5, 70),
        "kia": (17, 42) if sex == "P" and rng.random() < 0.5 else (0, 5),
    }.get(poli)
    if years is None:
        years = (1, 17) if rng.random() < 0.15 else (17, 80)
    return int(rng.uniform(years[0], years[1] + 0.999) * 365.25)


def make_nik(rng: np.random.Generator, birth: date, sex: str, region: str = "352905") -> str:
    """16-digit NIK: 6-digit region + DDMMYY (day + 40 for women) + 4-digit sequence."""
    day = birth.day + (40 if sex == "P" else 0)
    seq = int(rng.integers(1, 1000)) if rng.random() < 0.9 else int(rng.integers(1000, 10000))
    return f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}{seq:04d}"


def make_phone(rng: np.random.Generator) -> str:
    """An Indonesian mobile number, 10 to 13 digits starting with 08."""
    length = int(rng.choice([10, 11, 12, 13], p=[0.08, 0.3, 0.5, 0.12]))
    rest = "".join(str(d) for d in rng.integers(0, 10, length - 4))
    return _pick(rng, PHONE_PREFIX) + rest


def make_address(rng: np.random.Generator) -> str:
    """Dusun or street as written in the address boxes (at most 24 letters)."""
    if rng.random() < 0.2:
        return _pick(rng, STREETS)
    prefix = str(rng.choice(["DSN ", "DUSUN ", ""], p=[0.6, 0.2, 0.2]))
    return f"{prefix}{_pick(rng, DUSUN)}"


def _rt_rw(rng: np.random.Generator) -> tuple[str, str]:
    width = int(rng.choice([3, 2, 1], p=[0.5, 0.2, 0.3]))
    rt, rw = int(rng.integers(1, 16)), int(rng.integers(1, 7))
    return f"{rt:0{width}d}", f"{rw:0{width}d}"


def make_patient(rng: np.random.Generator, on: date, poli: str = "umum") -> Patient:
    """A patient of the right age and sex for ``poli``, living in a Bluto village."""
    sex = "P" if poli == "kia" and rng.random() < 0.75 else str(rng.choice(["L", "P"], p=[0.45, 0.55]))
    birth = on - timedelta(days=_age_days(rng, poli, sex))
    age = (on - birth).days // 365
    desa = villages()
    code, village = desa[int(rng.integers(len(desa)))]
    region = (NEIGHBOURS[int(rng.integers(len(NEIGHBOURS)))] if rng.random() < 0.08 else KECAMATAN).replace(".", "")
    nik = "" if (on - birth).days < 90 and rng.random() < 0.5 else make_nik(rng, birth, sex, region)
    rt, rw = _rt_rw(rng)
    return Patient(
        name=make_name(rng, sex, age), sex=sex, birth_date=birth, nik=nik,
        bpjs_no="000" + "".join(str(d) for d in [int(rng.integers(0, 4)), *rng.integers(0, 10, 9)]),
        phone=make_phone(rng) if rng.random() < 0.75 else "", address=make_address(rng), rt=rt, rw=rw,
        village=village, village_code=code,
    )


def _complaint(rng: np.random.Generator, poli: str) -> str:
    text = _pick(rng, COMPLAINTS[poli])
    style = rng.random()
    if style < 0.45:
        return text.upper()
    if style < 0.6:
        return text[0].upper() + text[1:]
    return text


def make_visit(rng: np.random.Generator, on: date, queue_no: int, arrival_time: str) -> Visit:
    """One visit: poli mix, payment (BPJS ~75%), old/new patient, short complaint."""
    poli = str(rng.choice(list(POLI_SHARE), p=list(POLI_SHARE.values())))
    p = make_patient(rng, on, poli)
    payment = "bpjs" if rng.random() < 0.75 else "umum"
    has_card = rng.random() < (0.97 if payment == "bpjs" else 0.08)
    p = Patient(**{**p.__dict__, "bpjs_no": p.bpjs_no if has_card else ""})
    lama = rng.random() < (0.35 if (on - p.birth_date).days < 365 else 0.7)
    return Visit(
        patient=p, visit_date=on, queue_no=queue_no, arrival_time=arrival_time,
        visit_type="lama" if lama else "baru", rm_no=f"{int(rng.integers(1, 30000)):08d}" if lama else "",
        poli=poli, payment=payment, complaint=_complaint(rng, poli) if rng.random() < 0.9 else "",
    )


def arrival_times(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` non-decreasing ``HH:MM`` times from 07:00, busiest early, never after 14:00."""
    span = min(420.0, 45.0 + 2.6 * n)
    minutes = np.sort(rng.beta(1.3, 2.2, n) * span)
    return [f"{7 + int(m) // 60:02d}:{int(m) % 60:02d}" for m in minutes]


def next_working_day(d: date) -> date:
    """The next day the Puskesmas is open (Monday to Saturday)."""
    d += timedelta(days=1)
    return d + timedelta(days=1) if d.weekday() == 6 else d


def first_day(rng: np.random.Generator) -> date:
    """A working day between 2025-10-30 and 2026-09-30 (the batch's visit date; always in the past)."""
    d = FIRST_DAY + timedelta(days=int(rng.integers(0, (LAST_DAY - FIRST_DAY).days - 7)))
    return d if d.weekday() != 6 else next_working_day(d)


def make_day(rng: np.random.Generator, on: date, n: int) -> list[Visit]:
    """``n`` visits of one day with queue numbers 1..n and increasing arrival times."""
    if not 0 < n <= MAX_QUEUE:
        raise ValueError(f"a day has 1 to {MAX_QUEUE} visits, not {n}")
    return [make_visit(rng, on, i + 1, t) for i, t in enumerate(arrival_times(rng, n))]


def pendaftaran_values(v: Visit) -> dict[str, str]:
    """Export values of the registration form fields for a visit."""
    p = v.patient
    return {
        "visit_date": v.visit_date.isoformat(), "queue_no": f"{v.queue_no:03d}", "arrival_time": v.arrival_time,
        "visit_type": v.visit_type, "rm_no": v.rm_no, "nik": p.nik, "bpjs_no": p.bpjs_no, "name": p.name,
        "sex": p.sex, "birth_date": p.birth_date.isoformat(), "address": p.address, "rt": p.rt, "rw": p.rw,
        "village": p.village, "phone": p.phone, "poli": v.poli, "payment": v.payment, "complaint": v.complaint,
    }


def antrean_values(v: Visit, name_len: int = 20) -> dict[str, str]:
    """Export values of one queue-sheet row (page-level ``visit_date`` included)."""
    return {
        "visit_date": v.visit_date.isoformat(), "queue_no": f"{v.queue_no:03d}", "arrival_time": v.arrival_time,
        "name": short_name(v.patient.name, name_len), "rm_no": v.rm_no, "visit_type": v.visit_type,
        "poli": v.poli, "payment": v.payment,
    }

"""Patient matching: link each reviewed record to a patient of the ERM master, a new patient, or ask.

Exact first (valid NIK, BPJS number, No. RM), otherwise fuzzy on name + birth date + village
(rapidfuzz). Every outcome carries a score (0-100) and a reason in Bahasa Indonesia; records of
returning patients get mismatch flags where the paper disagrees with the master (never overwritten).
Records that are new patients are grouped so one person visiting twice becomes one new patient.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from pipeline.erm import normalize as nz
from pipeline.erm.settings import Settings

NEW = "new"
OUTCOMES = ("linked", NEW, "ambiguous")
WEIGHTS = {"name": 0.50, "birth_date": 0.35, "village": 0.15}
UNKNOWN_PART = 0.5  # credit for a part that one side does not have
SEX_PENALTY = 20.0
IDENTITY_FLOOR = 55.0  # an exact number whose name/birth date score below this is suspicious


@dataclass(frozen=True)
class Candidate:
    """A patient a record might be; ``key`` identifies it (``rm:…``, ``nik:…``, ``new:…``)."""

    key: str
    score: float
    reason: str
    patient: dict[str, str]


@dataclass(frozen=True)
class Flag:
    """The paper and the ERM master disagree on a field."""

    field: str
    paper: str
    master: str
    message: str


@dataclass(frozen=True)
class Match:
    """Where a record's patient ends up."""

    record_id: int
    outcome: str
    patient_key: str
    score: float
    reason: str
    candidates: tuple[Candidate, ...] = ()
    flags: tuple[Flag, ...] = ()
    decided_by: str = ""


@dataclass
class Result:
    """Matches by record id, and every patient they refer to (master row or merged paper data)."""

    matches: dict[int, Match] = field(default_factory=dict)
    patients: dict[str, dict[str, str]] = field(default_factory=dict)


def master_key(row: dict[str, Any]) -> str:
    """Stable key of a master patient: its No. RM, else its NIK, else its row in the file."""
    if nz.rm_key(row.get("rm_no", "")):
        return f"rm:{nz.rm_key(row['rm_no'])}"
    if row.get("nik"):
        return f"nik:{row['nik']}"
    return f"row:{row.get('source_row', row.get('id', ''))}"


def name_similarity(paper: str, master: str) -> float:
    """0..1; a name that filled every box on paper may be cut short, so its prefix counts too."""
    a, b = nz.name_key(paper), nz.name_key(master)
    if not a or not b:
        return 0.0
    best = fuzz.token_sort_ratio(a, b)
    if len(a) >= 18 and len(b) > len(a):
        best = max(best, fuzz.ratio(a, b[: len(a)]))
    return best / 100.0


def place_similarity(a: str, b: str) -> float | None:
    """0..1 for two village names, ``None`` if either is unknown."""
    ka, kb = nz.place_key(a), nz.place_key(b)
    if not ka or not kb:
        return None
    return fuzz.ratio(ka, kb) / 100.0


def score(paper: dict[str, str], patient: dict[str, str]) -> tuple[float, str]:
    """Fuzzy identity score 0-100 of a paper record against a patient, and how it was reached."""
    parts = {
        "name": name_similarity(paper.get("name", ""), patient.get("name", "")),
        "birth_date": nz.date_similarity(paper.get("birth_date", ""), patient.get("birth_date", "")),
        "village": place_similarity(paper.get("village", ""), patient.get("village", "")),
    }
    total = sum(WEIGHTS[k] * (UNKNOWN_PART if v is None else v) for k, v in parts.items()) * 100
    words = [f"nama {(parts['name'] or 0.0) * 100:.0f}%"]
    dob = parts["birth_date"]
    words.append("tgl lahir tidak ada" if dob is None else f"tgl lahir {dob * 100:.0f}%")
    words.append("desa tidak ada" if parts["village"] is None else f"desa {parts['village'] * 100:.0f}%")
    if paper.get("sex") and patient.get("sex") and paper["sex"] != patient["sex"]:
        total -= SEX_PENALTY
        words.append("jenis kelamin beda")
    return round(max(total, 0.0), 1), ", ".join(words)


def flags(paper: dict[str, str], patient: dict[str, str]) -> tuple[Flag, ...]:
    """Where the paper of a returning patient disagrees with the master."""
    out = []
    if paper.get("name") and patient.get("name") and nz.name_key(paper["name"]) != nz.name_key(patient["name"]):
        out.append(Flag("name", paper["name"], patient["name"], "Nama di kertas berbeda dengan nama di ERM"))
    for name, label in (("nik", "NIK"), ("bpjs_no", "No. BPJS"), ("birth_date", "Tanggal lahir"),
                        ("sex", "Jenis kelamin")):
        if paper.get(name) and patient.get(name) and paper[name] != patient[name]:
            out.append(Flag(name, paper[name], patient[name], f"{label} di kertas berbeda dengan ERM"))
    if paper.get("rm_no") and patient.get("rm_no") and nz.rm_key(paper["rm_no"]) != nz.rm_key(patient["rm_no"]):
        out.append(Flag("rm_no", paper["rm_no"], patient["rm_no"], "No. RM di kertas berbeda dengan ERM"))
    sim = place_similarity(paper.get("village", ""), patient.get("village", ""))
    if sim is not None and sim < 0.85:
        out.append(Flag("village", paper["village"], patient["village"], "Desa di kertas berbeda dengan ERM"))
    if paper.get("visit_type") == "baru":
        out.append(Flag("visit_type", "baru", "lama", "Tertulis pasien baru, tetapi pasien sudah ada di ERM"))
    return tuple(out)


class Matcher:
    """Index over the ERM master for exact and fuzzy look-ups."""

    def __init__(self, master: Iterable[dict[str, Any]], settings: Settings) -> None:
        self.settings = settings
        self.rows = [{k: str(v) for k, v in r.items()} for r in master]
        self.by: dict[str, dict[str, list[dict[str, str]]]] = {"nik": {}, "bpjs_no": {}, "rm_no": {}, "birth": {}}
        for r in self.rows:
            for f in ("nik", "bpjs_no"):
                if r.get(f):
                    self.by[f].setdefault(r[f], []).append(r)
            if nz.rm_key(r.get("rm_no", "")):
                self.by["rm_no"].setdefault(nz.rm_key(r["rm_no"]), []).append(r)
            if r.get("birth_date"):
                self.by["birth"].setdefault(r["birth_date"], []).append(r)
        self.names = [nz.name_key(r.get("name", "")) for r in self.rows]
        self.keys = {master_key(r): r for r in self.rows}

    def exact(self, paper: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
        """``(number used, master row)`` for every valid number on paper found in the master."""
        hits = []
        if nz.valid_nik(paper.get("nik", "")):
            hits += [("NIK", r) for r in self.by["nik"].get(paper["nik"], [])]
        if nz.valid_bpjs(paper.get("bpjs_no", "")):
            hits += [("No. BPJS", r) for r in self.by["bpjs_no"].get(paper["bpjs_no"], [])]
        if nz.rm_key(paper.get("rm_no", "")):
            hits += [("No. RM", r) for r in self.by["rm_no"].get(nz.rm_key(paper["rm_no"]), [])]
        return hits

    def fuzzy(self, paper: dict[str, str], limit: int = 5) -> list[Candidate]:
        """Best fuzzy candidates, highest score first, one per patient."""
        pool: dict[int, dict[str, str]] = {}
        name = nz.name_key(paper.get("name", ""))
        if name:
            for _, _, i in process.extract(name, self.names, scorer=fuzz.token_sort_ratio, limit=25,
                                           score_cutoff=60):
                pool[id(self.rows[i])] = self.rows[i]
        for r in self.by["birth"].get(paper.get("birth_date", ""), []):
            pool[id(r)] = r
        return _best(paper, pool.values(), limit)

    def match(self, record_id: int, paper: dict[str, str]) -> Match:
        """Match one record against the master (decisions are applied by :func:`match_all`)."""
        hits = self.exact(paper)
        if hits:
            return self._exact_match(record_id, paper, hits)
        cands = self.fuzzy(paper)
        return self._fuzzy_match(record_id, paper, cands, "master ERM")

    def _exact_match(self, record_id: int, paper: dict[str, str], hits: list[tuple[str, dict[str, str]]]) -> Match:
        by_key: dict[str, tuple[list[str], dict[str, str]]] = {}
        for how, row in hits:
            by_key.setdefault(master_key(row), ([], row))[0].append(how)
        cands = []
        for key, (hows, row) in by_key.items():
            s, why = score(paper, row)
            cands.append(Candidate(key, s, f"{' dan '.join(hows)} sama; {why}", row))
        cands.sort(key=lambda c: -c.score)
        if len(cands) > 1:
            return Match(record_id, "ambiguous", "", cands[0].score,
                         "nomor di kertas cocok dengan lebih dari satu pasien ERM", tuple(cands))
        best = cands[0]
        if best.score < IDENTITY_FLOOR and paper.get("name"):
            more = [c for c in self.fuzzy(paper) if c.key != best.key]
            return Match(record_id, "ambiguous", "", best.score,
                         "nomor cocok, tetapi nama dan tanggal lahir jauh berbeda (nomor salah tulis?)",
                         tuple([best, *more]))
        return Match(record_id, "linked", best.key, 100.0, best.reason, (best,), flags(paper, best.patient))

    def _fuzzy_match(self, record_id: int, paper: dict[str, str], cands: list[Candidate], where: str) -> Match:
        st = self.settings
        if not cands or cands[0].score < st.ambiguous_score:
            near = f" (terdekat {cands[0].score:.0f})" if cands else ""
            return Match(record_id, NEW, "", cands[0].score if cands else 0.0,
                         f"tidak ada yang mirip di {where}{near}", tuple(cands[:3]), _new_flags(paper))
        best = cands[0]
        second = cands[1].score if len(cands) > 1 else 0.0
        if best.score >= st.link_score and best.score - second >= st.margin:
            return Match(record_id, "linked", best.key, best.score, f"mirip: {best.reason}", (best,),
                         flags(paper, best.patient))
        shown = tuple(c for c in cands if c.score >= st.ambiguous_score - 10)
        why = "dua pasien sama mirip" if best.score >= st.link_score else "mirip, tetapi belum cukup yakin"
        return Match(record_id, "ambiguous", "", best.score, f"{why} di {where}", shown)


def _best(paper: dict[str, str], rows: Iterable[dict[str, str]], limit: int, keyf: Any = None) -> list[Candidate]:
    best: dict[str, Candidate] = {}
    for row in rows:
        key = (keyf or master_key)(row)
        s, why = score(paper, row)
        if key not in best or best[key].score < s:
            best[key] = Candidate(key, s, why, row)
    return sorted(best.values(), key=lambda c: -c.score)[:limit]


def _new_flags(paper: dict[str, str]) -> tuple[Flag, ...]:
    if paper.get("visit_type") == "lama":
        return (Flag("visit_type", "lama", "", "Tertulis pasien lama, tetapi tidak ditemukan di master ERM"),)
    return ()


def new_key(paper: dict[str, str], visit_key: str) -> str:
    """Key of a new patient: its NIK when valid, else the first visit that named them."""
    return f"nik:{paper['nik']}" if nz.valid_nik(paper.get("nik", "")) else f"new:{visit_key}"


PATIENT_DATA = ("rm_no", "nik", "bpjs_no", "name", "birth_date", "sex", "address", "rt", "rw", "village", "phone")


def match_all(records: list[dict[str, Any]], master: list[dict[str, Any]], settings: Settings,
              decisions: dict[int, dict[str, str]] | None = None) -> Result:
    """Match every record (``{"record_id", "visit_key", "fields"}``), applying people's decisions.

    A decision ``patient`` is a candidate key or ``"new"``. Records that are new patients are then
    grouped among themselves with the same rules, so a new patient seen twice is created once.
    """
    decisions = decisions or {}
    matcher = Matcher(master, settings)
    result = Result()
    clusters: dict[str, dict[str, str]] = {}
    later: list[tuple[dict[str, Any], str, str]] = []
    for rec in records:
        rid, paper = rec["record_id"], rec["fields"]
        d = decisions.get(rid, {})
        choice, who = d.get("patient", ""), d.get("user", "")
        if choice and choice != NEW and choice in matcher.keys:
            row = matcher.keys[choice]
            s, why = score(paper, row)
            result.matches[rid] = Match(rid, "linked", choice, s, f"diputuskan oleh {who}; {why}",
                                        (Candidate(choice, s, why, row),), flags(paper, row), who)
            continue
        if choice and choice != NEW:
            later.append((rec, choice, who))  # a new patient grouped by a person; resolved below
            continue
        m = matcher.match(rid, paper) if choice != NEW else Match(rid, NEW, "", 0.0, f"diputuskan oleh {who}: "
                                                                  "pasien baru", (), _new_flags(paper), who)
        if m.outcome != NEW:
            result.matches[rid] = m
            continue
        result.matches[rid] = _group_new(rec, m, clusters, settings, force_own=bool(choice))
    for rec, choice, who in later:
        rid, paper = rec["record_id"], rec["fields"]
        if choice in clusters:
            s, why = score(paper, clusters[choice])
            result.matches[rid] = Match(rid, NEW, choice, s, f"diputuskan oleh {who}: sama dengan pasien baru "
                                        f"{clusters[choice].get('name', '')}; {why}", (), _new_flags(paper), who)
            _merge(clusters[choice], paper)
        else:
            m = matcher.match(rid, paper)
            result.matches[rid] = Match(rid, m.outcome, m.patient_key, m.score, "keputusan sebelumnya tidak "
                                        f"berlaku lagi ({choice} tidak ada); {m.reason}", m.candidates, m.flags)
            if m.outcome == NEW:
                result.matches[rid] = _group_new(rec, result.matches[rid], clusters, settings, force_own=False)
    result.patients = {k: {f: str(r.get(f, "")) for f in PATIENT_DATA} for k, r in matcher.keys.items()}
    result.patients.update(clusters)
    return result


def _group_new(rec: dict[str, Any], m: Match, clusters: dict[str, dict[str, str]], settings: Settings,
               force_own: bool) -> Match:
    """Put a new-patient record into an existing new patient, a new one, or ask."""
    rid, paper = rec["record_id"], rec["fields"]
    own = new_key(paper, rec["visit_key"])
    if own in clusters:  # same NIK as a new patient already seen
        _merge(clusters[own], paper)
        return Match(rid, NEW, own, 100.0, f"{m.reason}; NIK sama dengan pasien baru lain di kertas", m.candidates,
                     m.flags, m.decided_by)
    if not force_own:
        cands = _best(paper, [dict(v, _key=k) for k, v in clusters.items()], 5, keyf=lambda r: r["_key"])
        cands = [Candidate(c.key, c.score, c.reason, {k: v for k, v in c.patient.items() if k != "_key"})
                 for c in cands]
        if cands and cands[0].score >= settings.ambiguous_score:
            second = cands[1].score if len(cands) > 1 else 0.0
            best = cands[0]
            if best.score >= settings.link_score and best.score - second >= settings.margin \
                    and not _numbers_differ(paper, best.patient):
                _merge(clusters[best.key], paper)
                return Match(rid, NEW, best.key, best.score, f"pasien baru, sama dengan pasien baru lain di kertas "
                             f"({best.reason})", (best,), m.flags, m.decided_by)
            shown = tuple(c for c in cands if c.score >= settings.ambiguous_score - 10)
            return Match(rid, "ambiguous", "", best.score, "pasien baru, mirip pasien baru lain di kertas",
                         (*shown, *m.candidates), m.flags)
    clusters[own] = {f: str(paper.get(f, "")) for f in PATIENT_DATA}
    return Match(rid, NEW, own, m.score, m.reason, m.candidates, m.flags, m.decided_by)


def _numbers_differ(a: dict[str, str], b: dict[str, str]) -> bool:
    return any(a.get(f) and b.get(f) and a[f] != b[f] for f in ("nik", "bpjs_no"))


def _merge(into: dict[str, str], paper: dict[str, str]) -> None:
    for f in PATIENT_DATA:
        if not into.get(f) and paper.get(f):
            into[f] = str(paper[f])

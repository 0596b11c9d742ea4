"""The schema as named migrations, applied in order, each in its own transaction.

A migration's name never changes once it is on main (existing data dirs record the names applied).
The SQL is written once, in SQLite's words; :meth:`Database.ddl` turns it into PostgreSQL's (ids,
``BLOB``/``BYTEA``, ``REAL``); partial and expression indexes and the quoted ``"user"`` column are
written so that both accept them.
"""

from __future__ import annotations

from pipeline.store.db import Database, now

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE printed_serials (
            form_id TEXT NOT NULL, serial INTEGER NOT NULL, printed_at TEXT NOT NULL,
            PRIMARY KEY (form_id, serial));
        CREATE TABLE batches (
            id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT,
            source TEXT NOT NULL DEFAULT '', "user" TEXT NOT NULL DEFAULT '');
        CREATE TABLE files (
            id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
            stored_path TEXT NOT NULL, size INTEGER NOT NULL, batch_id INTEGER REFERENCES batches(id),
            page_count INTEGER, status TEXT NOT NULL DEFAULT 'pending', reason TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '', added_at TEXT NOT NULL);
        CREATE TABLE pages (
            id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id), page_no INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending', reason TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '',
            form_id TEXT, version INTEGER, serial INTEGER, page_key TEXT,
            copy_of INTEGER REFERENCES pages(id),
            orientation INTEGER, residual_mm REAL, image_path TEXT, signature BLOB,
            identified_by TEXT NOT NULL DEFAULT '', seconds REAL, updated_at TEXT NOT NULL,
            UNIQUE (file_id, page_no));
        CREATE UNIQUE INDEX pages_key ON pages(page_key) WHERE page_key IS NOT NULL;
        CREATE INDEX pages_serial ON pages(form_id, serial);
        CREATE TABLE records (
            id INTEGER PRIMARY KEY, page_id INTEGER NOT NULL REFERENCES pages(id), record_no INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'review', flagged TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL DEFAULT 1,
            updated_by TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL,
            UNIQUE (page_id, record_no));
        CREATE TABLE fields (
            id INTEGER PRIMARY KEY, page_id INTEGER NOT NULL REFERENCES pages(id), record_no INTEGER,
            name TEXT NOT NULL, kind TEXT NOT NULL,
            machine_value TEXT NOT NULL DEFAULT '', topk TEXT NOT NULL DEFAULT '[]', confidence REAL NOT NULL DEFAULT 0,
            engine TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'review',
            final_value TEXT NOT NULL DEFAULT '',
            changed_by TEXT NOT NULL DEFAULT '', changed_at TEXT, version INTEGER NOT NULL DEFAULT 1,
            crop BLOB, cells TEXT NOT NULL DEFAULT '[]', box TEXT NOT NULL DEFAULT '[]');
        CREATE UNIQUE INDEX fields_key ON fields(page_id, COALESCE(record_no, -1), name);
        CREATE TABLE issues (
            id INTEGER PRIMARY KEY, record_id INTEGER NOT NULL REFERENCES records(id), field TEXT NOT NULL,
            rule TEXT NOT NULL, message TEXT NOT NULL, blocking INTEGER NOT NULL DEFAULT 1);
        CREATE INDEX issues_record ON issues(record_id);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY, at TEXT NOT NULL, "user" TEXT NOT NULL, action TEXT NOT NULL,
            record_id INTEGER, field_id INTEGER, field TEXT NOT NULL DEFAULT '',
            old TEXT, new TEXT, note TEXT NOT NULL DEFAULT '');
        CREATE INDEX audit_record ON audit(record_id);
        """,
    ),
    (
        "0002_users",
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY, role TEXT NOT NULL CHECK (role IN ('reviewer', 'admin')),
            password TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, last_login TEXT);
        CREATE INDEX fields_name_status ON fields(name, status);
        CREATE INDEX records_state ON records(state);
        """,
    ),
    (
        "0003_erm",
        """
        CREATE TABLE erm_patients (
            id INTEGER PRIMARY KEY, source_row INTEGER NOT NULL, rm_no TEXT NOT NULL DEFAULT '',
            nik TEXT NOT NULL DEFAULT '', bpjs_no TEXT NOT NULL DEFAULT '', name TEXT NOT NULL DEFAULT '',
            birth_date TEXT NOT NULL DEFAULT '', sex TEXT NOT NULL DEFAULT '', address TEXT NOT NULL DEFAULT '',
            rt TEXT NOT NULL DEFAULT '', rw TEXT NOT NULL DEFAULT '', village TEXT NOT NULL DEFAULT '',
            phone TEXT NOT NULL DEFAULT '');
        CREATE INDEX erm_patients_nik ON erm_patients(nik);
        CREATE INDEX erm_patients_bpjs ON erm_patients(bpjs_no);
        CREATE INDEX erm_patients_rm ON erm_patients(rm_no);
        CREATE TABLE erm_visits (
            id INTEGER PRIMARY KEY, source_row INTEGER NOT NULL, visit_date TEXT NOT NULL,
            rm_no TEXT NOT NULL DEFAULT '', nik TEXT NOT NULL DEFAULT '', bpjs_no TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL DEFAULT '', birth_date TEXT NOT NULL DEFAULT '', poli TEXT NOT NULL DEFAULT '');
        CREATE INDEX erm_visits_date ON erm_visits(visit_date);
        CREATE TABLE erm_loads (
            kind TEXT PRIMARY KEY, file TEXT NOT NULL, sha256 TEXT NOT NULL, profile TEXT NOT NULL,
            rows INTEGER NOT NULL, skipped INTEGER NOT NULL, "user" TEXT NOT NULL DEFAULT '', loaded_at TEXT NOT NULL);
        CREATE TABLE erm_decisions (
            record_id INTEGER PRIMARY KEY, patient TEXT NOT NULL DEFAULT '', action TEXT NOT NULL DEFAULT '',
            "user" TEXT NOT NULL, at TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
        CREATE TABLE erm_plans (
            id INTEGER PRIMARY KEY, confirmed_by TEXT NOT NULL, confirmed_at TEXT NOT NULL, counts TEXT NOT NULL);
        CREATE TABLE erm_plan_rows (
            plan_id INTEGER NOT NULL REFERENCES erm_plans(id), record_id INTEGER NOT NULL,
            record_version INTEGER NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL,
            patient_key TEXT NOT NULL, visit_key TEXT NOT NULL, data TEXT NOT NULL,
            PRIMARY KEY (plan_id, record_id));
        CREATE TABLE erm_ledger (
            target TEXT NOT NULL, record_id INTEGER NOT NULL, visit_key TEXT NOT NULL, patient_key TEXT NOT NULL,
            status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, batch TEXT NOT NULL DEFAULT '',
            patient_ref TEXT NOT NULL DEFAULT '', encounter_ref TEXT NOT NULL DEFAULT '',
            message TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL, PRIMARY KEY (target, record_id));
        CREATE TABLE erm_ledger_events (
            id INTEGER PRIMARY KEY, target TEXT NOT NULL, record_id INTEGER NOT NULL, at TEXT NOT NULL,
            status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '');
        CREATE INDEX erm_ledger_events_record ON erm_ledger_events(record_id);
        """,
    ),
    (
        "0004_machine_detail",
        """
        ALTER TABLE fields ADD COLUMN detail TEXT NOT NULL DEFAULT '{}';
        """,
    ),
    (
        "0005_clinic_adaptations",
        """
        ALTER TABLE fields ADD COLUMN model TEXT NOT NULL DEFAULT '';
        CREATE TABLE adaptations (
            id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, base_model TEXT NOT NULL,
            version TEXT NOT NULL DEFAULT '', path TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL,
            audit_upto INTEGER NOT NULL DEFAULT 0, report TEXT NOT NULL DEFAULT '{}',
            made_by TEXT NOT NULL DEFAULT '', activated_at TEXT, retired_at TEXT);
        CREATE INDEX adaptations_state ON adaptations(state);
        """,
    ),
    (
        "0006_run_claims",
        """
        ALTER TABLE batches ADD COLUMN host TEXT NOT NULL DEFAULT '';
        ALTER TABLE batches ADD COLUMN pid INTEGER;
        ALTER TABLE batches ADD COLUMN heartbeat_at TEXT;
        ALTER TABLE batches ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
        ALTER TABLE pages ADD COLUMN claimed_by INTEGER;
        CREATE INDEX pages_status ON pages(status);
        """,
    ),
    (
        "0007_login_security",
        """
        CREATE TABLE login_failures (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL DEFAULT '', at TEXT NOT NULL);
        CREATE INDEX login_failures_name ON login_failures(name, at);
        CREATE INDEX login_failures_address ON login_failures(address, at);
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL, expires_at TEXT NOT NULL, handoff_hash TEXT, handoff_expires TEXT,
            revoked_at TEXT);
        CREATE INDEX sessions_handoff ON sessions(handoff_hash);
        """,
    ),
    (
        "0008_erm_satusehat_pcare",
        """
        ALTER TABLE erm_visits ADD COLUMN reg_no TEXT NOT NULL DEFAULT '';
        CREATE TABLE erm_identities (
            target TEXT NOT NULL, kind TEXT NOT NULL, nik TEXT NOT NULL, ref TEXT NOT NULL,
            source TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (target, kind, nik));
        CREATE TABLE erm_pcare (
            id INTEGER PRIMARY KEY, source_row INTEGER NOT NULL, tgl_daftar TEXT NOT NULL,
            no_kartu TEXT NOT NULL, kd_poli TEXT NOT NULL DEFAULT '', no_urut TEXT NOT NULL DEFAULT '');
        CREATE INDEX erm_pcare_card ON erm_pcare(no_kartu, tgl_daftar);
        """,
    ),
    (
        "0009_spot_checks",
        """
        CREATE TABLE spot_checks (
            field_id INTEGER PRIMARY KEY, batch_id INTEGER, kind TEXT NOT NULL, machine_value TEXT NOT NULL,
            confidence REAL NOT NULL, sampled_at TEXT NOT NULL);
        CREATE INDEX spot_checks_batch ON spot_checks(batch_id);
        """,
    ),
]


def migrate(db: Database) -> list[str]:
    """Apply every migration not yet applied; returns the names applied now."""
    applied = []
    with db.migration_lock():
        db.run("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = {r[0] for r in db.q("SELECT name FROM schema_migrations")}
        for name, sql in sorted(MIGRATIONS):
            if name in done:
                continue
            with db.tx() as c:
                if c.one("SELECT 1 FROM schema_migrations WHERE name=?", (name,)):
                    continue  # another process applied it meanwhile
                for statement in (s.strip() for s in sql.split(";")):
                    if statement:
                        c.execute(db.ddl(statement))
                c.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, now()))
            applied.append(name)
    return applied

"""The QuickBooks Desktop sandbox's state: the company file, the Web Connector's settings, faults, counters, log."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from ..common.persistence import PersistedState
from . import qbxml as q
from .company import Company
from .kinds import LISTS, TXNS

DEFAULT_CONFIG: dict[str, Any] = {
    # The workstation's UTC offset: QuickBooks stamps TimeModified from the local clock, with its offset.
    "utc_offset": "-05:00",
    "company_name": "Sandbox Company",
    # The Web Connector
    "client_version": "2.3.0.215",  # a QBWC productVersion seen in logs (api-facts-wave2 A.3)
    "auto_run": True,  # QBWC's Auto-Run box: run on the .qwc schedule
    "seconds_per_minute": 60.0,  # scale of RunEveryNMinutes for tests (0.05 makes a minute 50 ms)
    "noop_wait_seconds": 5.0,  # QBWC waits 5 s after getLastError answers "NoOp"
    "max_noops": 720,  # GUESS: a cap so a server that never stops answering NoOp cannot hold a test forever
    "connection_retries": 3,  # GUESS: how often QBWC re-tries opening QuickBooks before it gives up
    "on_warning": "continue",  # clientVersion "W:...": the person at the machine chooses to continue (or "stop")
    "http_timeout": 60.0,
    "log_limit": 5000,
    "persist_interval": 2.0,
    # A folder holding Intuit's qbxmlops130.xsd: when set, request sets are validated against it (not shipped).
    "schema_dir": None,
}

DEFAULT_FAULTS: dict[str, Any] = {
    "qb_not_running": False,
    "drop_http": None,  # {"method": "receiveResponseXML", "nth": 1, "when": "after_send" | "before_send"}
    "end_session_mid_iterator": 0,
    "stale_edit_sequence": 0,  # or {"count": n, "fields": {"Notes": "edited at the desk"}}
    "lock_contention": {"count": 0, "code": 3180},
}


def _empty_counters() -> dict[str, Any]:
    return {"requests": {}, "statuses": {}, "soap_calls": {}, "sessions": {"started": 0}, "hresults": {}}


@dataclass
class QbdSandbox(PersistedState):
    data_path: Path | None = None
    config: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_CONFIG))
    faults: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_FAULTS))
    counters: dict[str, Any] = field(default_factory=_empty_counters)
    # The Web Connector's application entry: the .qwc text, its password, an AppURL override.
    qwc: str | None = None
    password: str | None = None
    app_url: str | None = None
    sessions: list[dict[str, Any]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    clock_offset: float = 0.0
    dirty: bool = False
    # Empty dicts the shared control handlers expect of every sandbox (no OAuth here).
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    company: Company = field(init=False)
    last_parse_error: str | None = None
    _schema: tuple[str, Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.company = self._new_company()

    def _new_company(self) -> Company:
        return Company(str(self.config.get("company_name", "Sandbox Company")), clock=self.now,
                       tz=q.parse_offset(str(self.config.get("utc_offset", "-05:00"))))

    def reset(self) -> None:
        with self.lock:
            self.config = copy.deepcopy(DEFAULT_CONFIG)
            self.faults = copy.deepcopy(DEFAULT_FAULTS)
            self.counters = _empty_counters()
            self.sessions.clear()
            self.log.clear()
            self.clock_offset = 0.0
            self.company = self._new_company()
            self.dirty = True

    def reset_counters(self) -> None:
        with self.lock:
            self.counters = _empty_counters()

    def count(self, group: str, key: str) -> None:
        bucket = self.counters.setdefault(group, {})
        bucket[key] = bucket.get(key, 0) + 1

    # ---- the request processor as QBWC reaches it ----------------------------------------------------------------
    def process(self, raw: str, session: str, as_user: bool = False) -> tuple[str, str, str]:
        """(response, hresult, message): a response set, or "" with the HRESULT QBXMLRP2 would give."""
        with self.lock:
            if not as_user:
                try:
                    for el in q.parse_request_set(raw):
                        if isinstance(el.tag, str):
                            self.count("requests", el.tag)
                except q.ParseError:
                    pass
            try:
                if not as_user:
                    self._validate(raw)  # the application's requests, as QuickBooks' parser sees them
                answer = self.company.process(raw, session, None if as_user else self._before)
            except q.ParseError as exc:
                self.last_parse_error = str(exc)
                if not as_user:
                    self.count("hresults", q.HR_PARSE)
                return "", q.HR_PARSE, q.HR_PARSE_MSG
            if not as_user:
                for rs in etree.fromstring(answer.encode()).iter():
                    code = rs.get("statusCode") if isinstance(rs.tag, str) else None
                    if code is not None:
                        self.count("statuses", code)
            self.dirty = True
            if self.data_path is not None:
                self.save()
            return answer, "", ""

    def _validate(self, raw: str) -> None:
        folder = self.config.get("schema_dir")
        if not folder:
            return
        if self._schema is None or self._schema[0] != folder:
            import xmlschema

            ops = Path(str(folder)) / "qbxmlops130.xsd"
            if not ops.exists():
                raise q.ParseError(f"schema_dir has no qbxmlops130.xsd: {ops}")
            self._schema = (str(folder), xmlschema.XMLSchema(str(ops)))
        for err in self._schema[1].iter_errors(raw):
            raise q.ParseError(f"not valid against qbxmlops130.xsd: {err.reason} at {err.path}")

    def _before(self, company: Company, tag: str, el: etree._Element) -> None:
        """Faults that act on the next requests: lock contention, and a person's edit that makes an EditSequence
        stale."""
        lock = self.faults.get("lock_contention") or {}
        if int(lock.get("count", 0)) > 0:
            lock["count"] = int(lock["count"]) - 1
            kind = tag[:-2]
            for suffix in ("Add", "Mod", "Query"):
                kind = kind.removesuffix(suffix)
            name = el.findtext(".//Name") or el.findtext(".//FullName") or ""
            raise q.lock_status(int(lock.get("code", 3180)), kind, name)
        stale = self.faults.get("stale_edit_sequence")
        count = int(stale.get("count", 0)) if isinstance(stale, dict) else int(stale or 0)
        if count > 0 and tag.endswith("ModRq"):
            kind = tag[:-5]
            ident = el.findtext(f"{kind}Mod/ListID") or el.findtext(f"{kind}Mod/TxnID") or ""
            recs = company.lists.get(kind) if kind in LISTS else company.txns.get(kind) if kind in TXNS else None
            rec = recs.get(ident) if recs is not None else None
            if rec is not None:
                if isinstance(stale, dict):
                    stale["count"] = count - 1
                    rec.update(stale.get("fields") or {})
                else:
                    self.faults["stale_edit_sequence"] = count - 1
                company.touch(rec)  # a person saved the record at the desk a moment ago

    # ---- persistence ---------------------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        with self.lock:
            return super().snapshot()

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "config": self.config,
            "company": self.company.to_json(),
            "qwc": self.qwc,
            "password": self.password,
            "app_url": self.app_url,
            "clock_offset": self.clock_offset,
            "sessions": self.sessions[-200:],
        }

    def load_json(self, obj: dict[str, Any]) -> None:
        self.config = {**copy.deepcopy(DEFAULT_CONFIG), **obj.get("config", {})}
        self.company = self._new_company()
        if obj.get("company"):
            self.company.load_json(obj["company"])
        self.qwc, self.password, self.app_url = obj.get("qwc"), obj.get("password"), obj.get("app_url")
        self.clock_offset = float(obj.get("clock_offset", 0.0))
        self.sessions = list(obj.get("sessions", []))

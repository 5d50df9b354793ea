"""The store-backed mailbox between a sync cycle and the Web Connector.

The Web Connector is the SOAP client: we can only answer its calls, one qbXML request per sendRequestXML. So
the engine's ordinary cycle runs (under the connection's fenced lease) in a worker thread, and every provider
call it makes is written here as a `qbwc_requests` row; the provider then waits, polling the store, for the
response that receiveResponseXML saves on that row. sendRequestXML hands out the oldest pending row. Every
step is a row in the store, so the SOAP calls of one session may land on any process, and a restart between
two calls loses nothing: the session (ticket) is still there, and a cycle whose process died is noticed (its
worker id names a dead process, or its heartbeat stopped) and started again, its reconcile looking up the
writes whose answers were lost before anything is sent twice."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, update

from ledgersync.model import ProviderError
from ledgersync.providers.qbd import qbxml as x
from ledgersync.providers.qbd.errors import unavailable, unknown_outcome
from ledgersync.providers.qbd.qbxml import Node, Response
from ledgersync.store import Store
from ledgersync.store.lease import holder_dead
from ledgersync.store.tables import QbwcRequest, QbwcSession, SyncState


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class MailboxSettings:
    # How long a cycle waits for the Web Connector to bring one response (QuickBooks may take a while).
    answer_seconds: float = 300.0
    poll_seconds: float = 0.05
    # A worker that has not touched its session for this long is taken for dead.
    heartbeat_stale_seconds: float = 30.0
    # A session nobody has called for this long is over (the Web Connector gave up).
    session_idle_seconds: float = 3600.0


# Worker threads of this process by ticket, so a worker of this very process is known alive or finished
# (`holder_dead` cannot judge its own process).
_LOCAL: dict[str, threading.Thread] = {}
_LOCAL_LOCK = threading.Lock()


def register_local(ticket: str, thread: threading.Thread) -> None:
    with _LOCAL_LOCK:
        _LOCAL[ticket] = thread


def local_alive(ticket: str) -> bool | None:
    with _LOCAL_LOCK:
        t = _LOCAL.get(ticket)
    return None if t is None else t.is_alive()


class Sessions:
    """Web Connector sessions and their requests, in the store (never fenced: a session's bookkeeping is true
    whoever holds the connection's sync lease)."""

    def __init__(self, store: Store, settings: MailboxSettings | None = None) -> None:
        self.store = store.unfenced
        self.settings = settings or MailboxSettings()

    # -- sessions ------------------------------------------------------------------------------------------
    def open(self, conn_id: str, company_file: str | None) -> str:
        ticket = "{" + secrets.token_hex(16) + "}"
        with self.store.session() as s:
            s.add(
                QbwcSession(
                    ticket=ticket,
                    connection_id=conn_id,
                    company_file=company_file,
                    cycle_state="idle",
                    cycles=0,
                    answered=0,
                )
            )
        return ticket

    def get(self, ticket: str) -> QbwcSession | None:
        """The session, if it is open (an unknown, closed or long-idle ticket is None)."""
        if not ticket:
            return None
        with self.store.session() as s:
            row = s.get(QbwcSession, ticket)
            if row is None or row.closed_at is not None:
                return None
            if (_now() - row.last_seen_at).total_seconds() > self.settings.session_idle_seconds:
                return None
            row.last_seen_at = _now()
            return row

    def peek(self, ticket: str) -> QbwcSession | None:
        with self.store.session() as s:
            return s.get(QbwcSession, ticket)

    def close(self, ticket: str, message: str | None = None) -> None:
        with self.store.session() as s:
            row = s.get(QbwcSession, ticket)
            if row is not None and row.closed_at is None:
                row.closed_at = _now()
                if message:
                    row.message = message

    def end_gone(self, conn_id: str, idle_seconds: float) -> list[str]:
        """End the open sessions of a connection whose Web Connector has gone (it lost the connection, or was
        closed, without calling closeConnection), so a new session of the same connection can proceed. The Web
        Connector runs one session of an application at a time and calls again at once after each answer (5 s
        after a NoOp), so a session nobody has called for `idle_seconds` while nothing of it is out at
        QuickBooks is over; one whose request is out at QuickBooks (sent, no answer) may still be waiting for
        QuickBooks and is over only after the answer timeout. Ending one closes it in the store and abandons its
        requests: its cycle, in whichever process it runs, sees that on its next poll or heartbeat, its waiting
        call fails (UNKNOWN_OUTCOME for a write already handed out) and the cycle stops and releases the
        connection's lease; the new session's cycle, under that fenced lease, reconciles what was left
        `syncing`. Returns the tickets ended."""
        now = _now()
        ended: list[str] = []
        with self.store.session() as s:
            rows = list(
                s.scalars(
                    select(QbwcSession)
                    .where(QbwcSession.connection_id == conn_id, QbwcSession.closed_at.is_(None))
                    .with_for_update()
                )
            )
            for row in rows:
                idle = (now - row.last_seen_at).total_seconds()
                out_at_qb = s.scalars(
                    select(QbwcRequest.id)
                    .where(QbwcRequest.ticket == row.ticket, QbwcRequest.state == "sent")
                    .limit(1)
                ).first()
                limit = self.settings.answer_seconds if out_at_qb is not None else idle_seconds
                if idle <= limit:
                    continue
                took = s.execute(
                    update(QbwcSession)
                    .where(QbwcSession.ticket == row.ticket, QbwcSession.closed_at.is_(None))
                    .where(QbwcSession.last_seen_at == row.last_seen_at)  # not if the Web Connector called meanwhile
                    .values(
                        closed_at=now,
                        message="This session ended without closeConnection (its Web Connector went away); a new "
                        "session took over.",
                    )
                )
                if getattr(took, "rowcount", 0) != 1:
                    continue
                s.execute(
                    update(QbwcRequest)
                    .where(QbwcRequest.ticket == row.ticket, QbwcRequest.state.in_(("pending", "sent")))
                    .values(state="abandoned")
                )
                ended.append(row.ticket)
        return ended

    def due_now(self, conn_id: str) -> int:
        """A Web Connector run is QuickBooks Desktop's only chance to carry work (like Sync now elsewhere): the
        records waiting out a retry backoff (a lock at the desk, a session cut short) are due in it, rather than
        after a backoff that would outlast the session. Their attempts still count toward the failure limit."""
        with self.store.session() as s:
            done = s.execute(
                update(SyncState)
                .where(
                    SyncState.connection_id == conn_id,
                    SyncState.state == "pending",
                    SyncState.next_attempt_at.is_not(None),
                )
                .values(next_attempt_at=None)
            )
            return int(getattr(done, "rowcount", 0) or 0)

    def set_error(self, ticket: str, error: str | None) -> None:
        with self.store.session() as s:
            row = s.get(QbwcSession, ticket)
            if row is not None:
                row.last_error = error

    def claim_cycle(self, ticket: str, worker: str, *, force: bool = False) -> bool:
        """Mark a new cycle as this worker's: only if no live worker holds the session (or `force`)."""
        with self.store.session() as s:
            row = s.get(QbwcSession, ticket, with_for_update=True)
            if row is None or row.closed_at is not None:
                return False
            if row.cycle_state == "running" and not force and not self._worker_gone(row):
                return False
            # Whatever the previous cycle left waiting is abandoned: it asks nothing any more.
            s.execute(
                update(QbwcRequest)
                .where(QbwcRequest.ticket == ticket, QbwcRequest.state.in_(("pending", "sent")))
                .values(state="abandoned")
            )
            row.cycle_state = "running"
            row.cycles += 1
            row.worker = worker
            row.worker_seen_at = _now()
            return True

    def finish_cycle(self, ticket: str, worker: str, state: str, message: str | None) -> None:
        with self.store.session() as s:
            row = s.get(QbwcSession, ticket)
            if row is not None and row.worker == worker:
                row.cycle_state = state
                row.message = message
                if state == "failed":
                    row.last_error = message

    def heartbeat(self, ticket: str, worker: str) -> bool:
        """Keep the worker's claim fresh; False once the session is closed or another worker took it."""
        with self.store.session() as s:
            row = s.get(QbwcSession, ticket)
            if row is None or row.worker != worker or row.closed_at is not None:
                return False
            row.worker_seen_at = _now()
            return True

    def _worker_gone(self, row: QbwcSession) -> bool:
        alive_here = local_alive(row.ticket)
        if alive_here is not None and row.worker and row.worker.split(":")[1:2] == [str(_pid())]:
            return not alive_here
        if row.worker and holder_dead(row.worker):
            return True
        seen = row.worker_seen_at
        return seen is None or (_now() - seen).total_seconds() > self.settings.heartbeat_stale_seconds

    def cycle_running(self, ticket: str) -> bool | None:
        """True while a live worker runs the session's cycle; False when it finished; None when it died (or
        never started) and the session needs a new one."""
        row = self.peek(ticket)
        if row is None:
            return False
        if row.cycle_state in ("done", "failed"):
            return False
        if row.cycle_state == "idle" or self._worker_gone(row):
            return None
        return True

    # -- requests ------------------------------------------------------------------------------------------
    def post(self, ticket: str, conn_id: str, kind: str, body: str, request_id: str, is_write: bool) -> int:
        with self.store.session() as s:
            row = QbwcRequest(
                ticket=ticket,
                connection_id=conn_id,
                request_id=request_id,
                kind=kind,
                is_write=is_write,
                body=body,
                state="pending",
            )
            s.add(row)
            s.flush()
            return row.id

    def next_request(self, ticket: str) -> QbwcRequest | None:
        """Hand out the oldest pending request (at most once, whichever process asks)."""
        with self.store.session() as s:
            for row in s.scalars(
                select(QbwcRequest)
                .where(QbwcRequest.ticket == ticket, QbwcRequest.state == "pending")
                .order_by(QbwcRequest.id)
                .limit(3)
            ):
                took = s.execute(
                    update(QbwcRequest)
                    .where(QbwcRequest.id == row.id, QbwcRequest.state == "pending")
                    .values(state="sent", sent_at=_now())
                )
                if getattr(took, "rowcount", 0) == 1:
                    return row
        return None

    def outstanding(self, ticket: str) -> QbwcRequest | None:
        """The request the Web Connector holds (sent, no answer yet)."""
        with self.store.session() as s:
            return s.scalars(
                select(QbwcRequest)
                .where(QbwcRequest.ticket == ticket, QbwcRequest.state == "sent")
                .order_by(QbwcRequest.id)
                .limit(1)
            ).first()

    def answer(self, ticket: str, response: str | None, error: str | None) -> QbwcRequest | None:
        """Save what the Web Connector brought for the request it holds; None if it holds none (an answer
        that arrives after its cycle was abandoned changes nothing: that cycle's reconcile looks it up)."""
        with self.store.session() as s:
            row = s.scalars(
                select(QbwcRequest)
                .where(QbwcRequest.ticket == ticket, QbwcRequest.state.in_(("sent", "abandoned")))
                .where(QbwcRequest.sent_at.is_not(None), QbwcRequest.answered_at.is_(None))
                .order_by(QbwcRequest.id.desc())
                .limit(1)
            ).first()
            sess = s.get(QbwcSession, ticket)
            if sess is not None:
                sess.answered += 1
            if row is None:
                return None
            if row.state == "sent":
                row.state = "failed" if error else "answered"
            row.response = response
            row.error = error
            row.answered_at = _now()
            return row

    def get_request(self, request_pk: int) -> QbwcRequest | None:
        with self.store.session() as s:
            return s.get(QbwcRequest, request_pk)

    def abandon(self, request_pk: int) -> None:
        with self.store.session() as s:
            s.execute(
                update(QbwcRequest)
                .where(QbwcRequest.id == request_pk, QbwcRequest.state.in_(("pending", "sent")))
                .values(state="abandoned")
            )

    def counts(self, ticket: str) -> tuple[int, int]:
        """(requests answered, requests still pending or sent) of the session."""
        with self.store.session() as s:
            rows = list(s.scalars(select(QbwcRequest.state).where(QbwcRequest.ticket == ticket)))
        return sum(r in ("answered", "failed") for r in rows), sum(r in ("pending", "sent") for r in rows)


def _pid() -> int:
    import os

    return os.getpid()


class Asks(Protocol):
    """What a QbdProvider talks through: one qbXML document out, each *Rs back (the Web Connector mailbox; a
    test harness may carry documents to a company file directly)."""

    def ask(self, requests: Sequence[Node], *, is_write: bool) -> list[Response]: ...


class Mailbox:
    """What a QbdProvider talks through: `ask` posts a qbXML request for the session and waits for its
    response. Bound to one session (ticket) and one worker."""

    def __init__(self, sessions: Sessions, ticket: str, conn_id: str, worker: str) -> None:
        self.sessions = sessions
        self.ticket = ticket
        self.conn_id = conn_id
        self.worker = worker
        self.requests_sent = 0

    def ask(self, requests: Sequence[Node], *, is_write: bool) -> list[Response]:
        """Send one qbXML document holding `requests` (each with its requestID) and return each *Rs, in the
        order of `requests`. Raises ProviderError when no answer comes (UNKNOWN_OUTCOME for a write that was
        handed to the Web Connector; UNAVAILABLE otherwise)."""
        ids = [rq.get("requestID") for rq in requests]
        kind = ",".join(sorted({rq.tag for rq in requests}))[:64]
        body = x.document(requests)
        pk = self.sessions.post(self.ticket, self.conn_id, kind, body, ids[0] or "", is_write)
        self.requests_sent += 1
        st = self.sessions.settings
        deadline = time.monotonic() + st.answer_seconds
        beat = 0.0
        while True:
            row = self.sessions.get_request(pk)
            if row is None or row.state == "abandoned":
                raise self._lost(is_write, sent=row is not None and row.sent_at is not None, why="the session moved on")
            if row.state == "answered" and row.response is not None:
                return self._match(ids, row.response, is_write)
            if row.state == "failed":
                raise self._lost(is_write, sent=True, why=row.error or "the Web Connector reported an error")
            now = time.monotonic()
            if now >= deadline:
                self.sessions.abandon(pk)
                raise self._lost(is_write, sent=row.sent_at is not None, why="no answer in time")
            if now - beat >= 1.0:
                beat = now
                if not self.sessions.heartbeat(self.ticket, self.worker):
                    self.sessions.abandon(pk)
                    raise self._lost(is_write, sent=row.sent_at is not None, why="the Web Connector session ended")
            time.sleep(st.poll_seconds)

    def _lost(self, is_write: bool, *, sent: bool, why: str) -> ProviderError:
        if is_write and sent:
            return ProviderError(unknown_outcome(why))
        return ProviderError(unavailable(f"QuickBooks Desktop did not answer: {why}."))

    def _match(self, ids: Sequence[str | None], response: str, is_write: bool) -> list[Response]:
        try:
            parsed = x.parse_response(response)
        except x.MalformedResponse as exc:
            raise ProviderError(unknown_outcome(str(exc)) if is_write else unavailable(str(exc))) from None
        by_id = {r.request_id: r for r in parsed if r.request_id}
        out: list[Response] = []
        for i, rid in enumerate(ids):
            found = by_id.get(rid) if rid else (parsed[i] if i < len(parsed) else None)
            if found is None:
                why = f"the response carried no answer for request {rid}"
                raise ProviderError(unknown_outcome(why) if is_write else unavailable(why))
            out.append(found)
        return out


__all__ = ["Asks", "Mailbox", "MailboxSettings", "Sessions", "local_alive", "register_local"]

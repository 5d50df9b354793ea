"""The dashboard's routes: sign-in, integrations, errors and fixes, record lists and pages, the event log."""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from ledgersync import (
    ActionCentre,
    ActionError,
    Actor,
    ConnectionBusy,
    CycleReport,
    Entity,
    Health,
    LedgerSync,
    PermissionDenied,
    ProviderError,
    Role,
)
from ledgersync.engine.picker import PICKABLE
from ledgersync.store.tables import Connection
from ledgersync.web import present
from ledgersync.web.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    SignInLocked,
    User,
    WebSettings,
    csrf_ok,
    csrf_token,
    load_user,
    session_user_id,
    sign_in,
    sign_in_throttled,
    sign_out,
)
from ledgersync.web.exports import ExportRuns
from ledgersync.web.queries import EVENT_KINDS, OUTCOMES, contact_names, list_events, list_records, record_history

log = logging.getLogger(__name__)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals.update(
    status_tip=present.status_tip,
    state_label=present.STATE_LABEL,
    action_label=present.ACTION_LABEL,
    record_url=present.record_url,
    entity_kind=present.entity_kind,
    list_path=present.LIST_PATH,
    filter_states=present.FILTER_STATES,
    csrf_field=CSRF_FIELD,
)
TEMPLATES.env.filters.update(ago=present.ago, stamp=present.stamp, money=present.money)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LISTS = {"customers": Entity.CONTACT, "invoices": Entity.INVOICE, "payments": Entity.PAYMENT, "credits": Entity.CREDIT}
CONN_STATUS = {
    "connected": "Connected",
    "needs_reconnect": "Needs reconnect",
    "parked": "Paused",
    "disconnected": "Disconnected",
    "pending_consent": "Waiting for consent",
    "choose_organisation": "Choose the organisation",
}
TEMPLATES.env.globals["conn_status"] = CONN_STATUS
# A consent that reached several organisations (Xero) waits in this status for the person to choose one.
CHOOSE = "choose_organisation"


class LoginRequired(Exception):
    """No signed-in user: pages redirect to the sign-in form."""


class CsrfFailed(Exception):
    """A POST without this session's CSRF token: refused before anything changes."""


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Ctx:
    """Who is asking, in which organisation, and which connection the page is about."""

    request: Request
    ls: LedgerSync
    user: User
    org_id: str
    org_name: str
    role: Role
    connections: list[Connection]
    conn: Connection | None
    csrf: str
    flashes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def actor(self) -> Actor:
        return Actor(self.user.email, self.role)

    @property
    def can_manage(self) -> bool:
        return self.actor.can_manage

    @property
    def platform(self) -> str:
        if self.conn is None:
            return "the accounting platform"
        try:
            return self.ls.spec(self.conn.provider).capabilities.display_name
        except ValueError:
            return self.conn.provider

    def display_name(self, conn: Connection) -> str:
        try:
            return self.ls.spec(conn.provider).capabilities.display_name
        except ValueError:
            return conn.provider

    def connection(self, conn_id: str) -> Connection:
        for c in self.connections:
            if c.id == conn_id:
                return c
        raise Forbidden("that connection is not in your organisation")

    def active(self) -> list[Connection]:
        return [c for c in self.connections if c.status not in ("disconnected", CHOOSE)]


def flash(request: Request, level: str, text: str) -> None:
    items = list(request.session.get("flash") or [])
    items.append([level, text])
    request.session["flash"] = items[-5:]


def safe_next(target: str | None, default: str) -> str:
    """Only this site's own paths are followed after an action (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def build_router(ls: LedgerSync, ws: WebSettings | None = None) -> APIRouter:
    """The dashboard's routes over one LedgerSync; every POST passes the CSRF check first."""
    ws = ws or WebSettings()

    async def csrf_protect(request: Request) -> None:
        if request.method in SAFE_METHODS:
            return
        submitted = request.headers.get(CSRF_HEADER)
        if not submitted:
            ctype = request.headers.get("content-type", "")
            if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                value = (await request.form()).get(CSRF_FIELD)
                submitted = value if isinstance(value, str) else None
        if not csrf_ok(request, submitted):
            raise CsrfFailed()

    router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
    ac = ActionCentre(ls)
    services = _services()

    def run_sync_now(actor: Actor, conn_id: str) -> CycleReport:
        # Through the API's service when it is there, so the app also hears `sync.failed`.
        if services is not None:
            report: CycleReport = services.sync_now(ls, actor, conn_id, everything_not_synced=True)
            return report
        return ac.sync_now(actor, conn_id, everything_not_synced=True)

    def run_retry(actor: Actor, conn_id: str, entity: Entity, app_id: str) -> None:
        if services is not None:
            services.run_action(ls, actor, conn_id, entity, app_id, "retry", now=True)
        else:
            ac.retry(actor, conn_id, entity, app_id, now=True)

    def context(request: Request) -> Ctx:
        uid = session_user_id(request, ls.store, ws)
        user = load_user(ls.store, uid) if uid is not None else None
        if user is None or not user.memberships:
            raise LoginRequired()
        org = request.session.get("org")
        member = user.membership(org if isinstance(org, str) else None) or user.memberships[0]
        request.session["org"] = member.org_id
        conns = ls.connections(member.org_id)
        wanted = request.query_params.get("conn") or request.session.get("conn")
        current = next((c for c in conns if c.id == wanted), None)
        if current is None:
            current = next((c for c in conns if c.status != "disconnected"), conns[0] if conns else None)
        if current is not None:
            request.session["conn"] = current.id
        flashes = [(str(a), str(b)) for a, b in request.session.pop("flash", None) or []]
        return Ctx(
            request=request,
            ls=ls,
            user=user,
            org_id=member.org_id,
            org_name=member.org_name,
            role=member.role,
            connections=conns,
            conn=current,
            csrf=csrf_token(request),
            flashes=flashes,
        )

    def banner(ctx: Ctx) -> dict[str, Any]:
        healths: list[Health] = []
        failed = 0
        for c in ctx.active():
            try:
                healths.append(ls.health(c.id))
            except ValueError:
                continue
            failed += ac.failed_count(c.id)
        warn = any(h.stale or h.status in ("needs_reconnect", "parked") for h in healths)
        return {"healths": healths, "failed_total": failed, "banner_warn": warn}

    def render(ctx: Ctx, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        data = {"c": ctx, "hx_headers": Markup(json.dumps({"X-CSRF-Token": ctx.csrf})), **banner(ctx), **values}
        return TEMPLATES.TemplateResponse(ctx.request, template, data, status_code=status_code)

    # -- sign-in -------------------------------------------------------------------------------------
    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str | None = None, error: str | None = None) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(
            request,
            "login.html",
            {"csrf": csrf_token(request), "next": safe_next(next, "/integrations"), "error": error},
        )

    @router.post("/login", response_model=None)
    def login(
        request: Request,
        email: str = Form("", max_length=320),
        password: str = Form("", max_length=1024),
        next: str = Form("/integrations", max_length=2048),
    ) -> Response:
        address = request.client.host if request.client else "unknown"
        try:
            user = sign_in_throttled(ls.store, email, password, address, ws)
        except SignInLocked as locked:
            minutes = max(1, round(locked.retry_after / 60))
            return TEMPLATES.TemplateResponse(
                request,
                "login.html",
                {
                    "csrf": csrf_token(request),
                    "next": safe_next(next, "/integrations"),
                    "error": "Too many failed sign-ins for this account or from this address. Try again in "
                    f"{minutes} minute{'s' if minutes != 1 else ''}, or ask an owner to unlock the account.",
                    "email": email,
                },
                status_code=429,
                headers={"Retry-After": str(locked.retry_after)},
            )
        if user is None or not user.memberships:
            return TEMPLATES.TemplateResponse(
                request,
                "login.html",
                {
                    "csrf": csrf_token(request),
                    "next": safe_next(next, "/integrations"),
                    "error": "That email and password do not match an account here.",
                    "email": email,
                },
                status_code=401,
            )
        sign_in(request, user, ls.store)
        return see_other(safe_next(next, "/integrations"))

    @router.post("/logout")
    def logout(request: Request) -> RedirectResponse:
        sign_out(request, ls.store)
        return see_other("/login")

    @router.post("/org")
    def switch_org(request: Request, org: str = Form(...), ctx: Ctx = Depends(context)) -> RedirectResponse:
        if ctx.user.membership(org) is None:
            raise Forbidden("you are not a member of that organisation")
        request.session["org"] = org
        request.session.pop("conn", None)
        return see_other("/integrations")

    @router.get("/")
    def home(request: Request, ctx: Ctx = Depends(context)) -> RedirectResponse:
        # The REST API's OAuth callback lands here with ?connected=<id> or ?connection=<id>&error=<reason>.
        query = request.url.query
        return see_other("/integrations" + (f"?{query}" if query else ""))

    # -- banner and Sync now -------------------------------------------------------------------------
    @router.get("/banner", response_class=HTMLResponse)
    def banner_partial(ctx: Ctx = Depends(context)) -> HTMLResponse:
        return render(ctx, "_banner.html")

    @router.post("/sync-now", response_model=None)
    def sync_now(request: Request, conn: str = Form(""), next: str = Form(""), ctx: Ctx = Depends(context)) -> Response:
        targets = [ctx.connection(conn)] if conn else ctx.active()
        # With Celery workers (`serve --no-scheduler`) the sync is queued for them, not run in the web process.
        enqueue: Any = getattr(request.app.state, "enqueue", None)
        for c in targets if enqueue is not None else []:
            enqueue.sync_now(c.id, everything_not_synced=True, actor=ctx.actor.name, role=ctx.actor.role.value)
            flash(request, "info", f"Sync with {ctx.display_name(c)} queued; the page shows it when done.")
        for c in targets if enqueue is None else []:
            name = ctx.display_name(c)
            waits = ls.health(c.id).sync_now_phrase()
            if waits:  # the QuickBooks Web Connector calls us on its schedule
                flash(request, "info", f"Sync with {name}: {waits}")
                continue
            try:
                report = run_sync_now(ctx.actor, c.id)
            except ConnectionBusy:
                flash(request, "info", f"A sync with {name} is already running; the page shows it when done.")
                continue
            except ProviderError as exc:
                flash(request, "error", f"Sync with {name} could not run: {exc.error.message} {exc.error.hint}")
                continue
            failed = sum(report.failed.values())
            if report.status not in ("ok",):
                why = " ".join(p for p in (report.message or report.status, report.hint) if p)
                flash(request, "error", f"Sync with {name} stopped: {why}")
            elif failed:
                flash(request, "warn", f"Synced with {name}; {failed} record{'s' if failed != 1 else ''} failed.")
            else:
                flash(
                    request,
                    "ok",
                    f"Synced with {name}: {sum(report.pushed.values())} sent, {sum(report.pulled.values())} received.",
                )
        if request.headers.get("hx-request"):
            ctx.flashes = [(str(a), str(b)) for a, b in request.session.pop("flash", None) or []]
            ctx.connections = ls.connections(ctx.org_id)
            on_integrations = "/integrations" in request.headers.get("hx-current-url", "")
            return render(ctx, "_sync_result.html", cards=card_data(ctx) if on_integrations else [])
        return see_other(safe_next(next, "/integrations"))

    # -- Check against <platform> (verify) -------------------------------------------------------------
    @router.post("/verify", response_model=None)
    def verify(request: Request, conn: str = Form(...), next: str = Form(""), ctx: Ctx = Depends(context)) -> Response:
        c = ctx.connection(conn)
        name = ctx.display_name(c)
        try:
            report = ls.verify(c.id)
        except ConnectionBusy:
            flash(request, "info", f"A sync with {name} is running right now; check again in a minute.")
        except ProviderError as exc:
            flash(request, "error", f"Check against {name} could not run: {exc.error.message} {exc.error.hint}")
        else:
            level = "ok" if report.agree else "warn"
            flash(request, level, f"Checked against {name}: {report.summary()}.")
        return see_other(safe_next(next, "/errors" if ctx.conn else "/integrations"))

    # -- integrations --------------------------------------------------------------------------------
    def card_data(ctx: Ctx) -> list[dict[str, Any]]:
        out = []
        for c in ctx.connections:
            h = ls.health(c.id)
            runs = [export_runs.view(r) for r in export_runs.for_connection(c.id)]
            out.append({"conn": c, "health": h, "failed": ac.failed_count(c.id), "exports": runs})
        return out

    # -- the one-time export, with its progress (account controls) ------------------------------------
    export_runs = ExportRuns()

    @router.post("/integrations/{conn_id}/export/{what}", response_model=None)
    def start_export(request: Request, conn_id: str, what: str, ctx: Ctx = Depends(context)) -> Response:
        conn = ctx.connection(conn_id)
        if not ctx.can_manage:
            raise Forbidden(f"Only an owner or admin can export everything; you are a {ctx.role.value}.")
        try:
            run = export_runs.start(ls, conn.id, what)
        except ValueError as exc:
            flash(request, "error", str(exc))
            return see_other("/integrations")
        if request.headers.get("hx-request"):
            return render(ctx, "_export.html", run=export_runs.view(run))
        flash(request, "ok", f"Exporting all {what} to {ctx.display_name(conn)}; the card shows the progress.")
        return see_other("/integrations")

    @router.get("/integrations/{conn_id}/export/{what}", response_class=HTMLResponse)
    def export_progress(conn_id: str, what: str, ctx: Ctx = Depends(context)) -> HTMLResponse:
        conn = ctx.connection(conn_id)
        run = export_runs.get(conn.id, what)
        if run is None:
            return render(ctx, "missing.html", status_code=404, what=f"export of {what} running or finished")
        return render(ctx, "_export.html", run=export_runs.view(run))

    TEMPLATES.env.globals["entity_order"] = [e.value for e in Entity.push_order()]

    @router.get("/integrations", response_model=None)
    def integrations(
        ctx: Ctx = Depends(context), connected: str = "", connection: str = "", error: str = "", choose: str = ""
    ) -> Response:
        by_id = {c.id: c for c in ctx.connections}
        if choose in by_id and by_id[choose].status == CHOOSE:
            # The REST API's callback, for a consent that reached several organisations.
            return see_other(f"/integrations/{choose}/organisation")
        if connected in by_id:
            ctx.flashes.append(("ok", f"Connected to {by_id[connected].tenant_name}; syncing resumes."))
        elif connection in by_id and error:
            ctx.flashes.append(("error", f"The consent was not completed ({error}); nothing was changed."))
        return render(ctx, "integrations.html", cards=card_data(ctx), relay=relay_view(ctx))

    def relay_view(ctx: Ctx) -> dict[str, Any]:
        own = ls.org_relay_setting(ctx.org_id)
        return {
            "own": own,
            "default": ls.settings.relay_between_platforms,
            "on": ls.relay_between_platforms(ctx.org_id),
        }

    @router.post("/integrations/relay")
    def set_relay(request: Request, relay: str = Form(...), ctx: Ctx = Depends(context)) -> RedirectResponse:
        if not ctx.can_manage:
            raise Forbidden(f"Only an owner or admin can change this; you are a {ctx.role.value}.")
        choice = {"default": None, "on": True, "off": False}
        if relay not in choice:
            flash(request, "error", "Choose the default, on or off.")
            return see_other("/integrations#relay")
        ls.set_relay_between_platforms(ctx.org_id, choice[relay])
        now = "sent to the other platforms" if ls.relay_between_platforms(ctx.org_id) else "kept on their platform"
        flash(request, "ok", f"Saved: documents entered on one platform are {now} from the next sync on.")
        return see_other("/integrations#relay")

    @router.post("/integrations/{conn_id}/refresh", response_model=None)
    def refresh_link(request: Request, conn_id: str, ctx: Ctx = Depends(context)) -> Response:
        conn = ctx.connection(conn_id)
        if not ctx.can_manage:
            raise Forbidden(f"Only an owner or admin can refresh the link; you are a {ctx.role.value}.")
        if ls.connect_kind(conn.id) == "web_connector":
            # QuickBooks Desktop (issue 10): a new Web Connector password, shown once on this page only; the
            # .qwc file keeps its OwnerID and FileID, so the Web Connector keeps the company file authorised.
            started = ls.refresh_link(conn.id)
            return render(ctx, "web_connector.html", conn=conn, name=ctx.display_name(conn), start=started)
        if ls.connect_kind(conn.id) == "credentials":
            # An API key (DEAR): typed on a page of its own, checked with the platform before it is saved.
            return see_other(f"/integrations/{conn.id}/credentials")
        if ls.connect_kind(conn.id) != "redirect":
            # A password or key must be shown or typed on a page of its own; until there is one, the API does it.
            where = f"POST /v1/connections/{conn.id}/refresh-link"
            flash(request, "error", f"Reconnect {ctx.display_name(conn)} through the REST API: {where}.")
            return see_other("/integrations")
        start = ls.refresh_link(conn.id)
        assert start.authorization_url is not None
        return RedirectResponse(start.authorization_url, status_code=303)

    # -- API-key connections (DEAR / Cin7 Core, issue 12) --------------------------------------------------
    @router.get("/integrations/{conn_id}/credentials", response_class=HTMLResponse)
    def credentials_form(conn_id: str, ctx: Ctx = Depends(context)) -> HTMLResponse:
        conn = ctx.connection(conn_id)
        if ls.connect_kind(conn.id) != "credentials":
            raise Forbidden(f"{ctx.display_name(conn)} does not connect with an API key.")
        fields = ls.refresh_link(conn.id).fields
        return render(ctx, "credentials.html", conn=conn, name=ctx.display_name(conn), fields=fields)

    @router.post("/integrations/{conn_id}/credentials", response_model=None)
    async def credentials_submit(request: Request, conn_id: str, ctx: Ctx = Depends(context)) -> Response:
        conn = ctx.connection(conn_id)
        if not ctx.can_manage:
            raise Forbidden(f"Only an owner or admin can connect a platform; you are a {ctx.role.value}.")
        if ls.connect_kind(conn.id) != "credentials":
            raise Forbidden(f"{ctx.display_name(conn)} does not connect with an API key.")
        form = await request.form()
        names = [f.name for f in ls.refresh_link(conn.id).fields]
        submitted = {n: str(form.get(n) or "")[:1024] for n in names}
        try:
            ls.submit_credentials(conn.id, submitted)
        except (ValueError, ProviderError) as exc:
            message = exc.error.message if isinstance(exc, ProviderError) else str(exc)
            hint = f" {exc.error.hint}" if isinstance(exc, ProviderError) and exc.error.hint else ""
            flash(request, "error", f"Could not connect {ctx.display_name(conn)}: {message} Nothing was saved.{hint}")
            return see_other(f"/integrations/{conn.id}/credentials")
        flash(request, "ok", f"Connected to {ls.connection(conn.id).tenant_name}; syncing resumes.")
        return see_other("/integrations")

    @router.get("/integrations/{conn_id}/qwc", response_model=None)
    def web_connector_file(conn_id: str, ctx: Ctx = Depends(context)) -> Response:
        """The connection's .qwc file for the QuickBooks Web Connector (it holds no password)."""
        conn = ctx.connection(conn_id)
        if not ctx.can_manage:
            raise Forbidden(f"Only an owner or admin can download the Web Connector file; you are a {ctx.role.value}.")
        file = ls.web_connector_file(conn.id)
        if file is None:
            raise Forbidden(f"{ctx.display_name(conn)} does not connect through the QuickBooks Web Connector.")
        return Response(
            file.content,
            media_type=file.media_type,
            headers={"content-disposition": f'attachment; filename="{file.name}"'},
        )

    def complete(request: Request) -> Response:
        query = request.url.query
        try:
            conn_id = ls.complete_callback(query)
        except (ValueError, ProviderError) as exc:
            flash(request, "error", f"Could not connect: {exc}. Nothing was changed.")
            return see_other("/integrations")
        conn = ls.connection(conn_id)
        if conn.status == CHOOSE:  # the consent reached several organisations (Xero): the person picks one
            return see_other(f"/integrations/{conn_id}/organisation")
        flash(request, "ok", f"Connected to {conn.tenant_name}; syncing resumes.")
        return see_other("/integrations")

    # -- one consent, several organisations: the person picks the one this connection syncs with ------------
    @router.get("/integrations/{conn_id}/organisation", response_model=None)
    def organisation_form(request: Request, conn_id: str, ctx: Ctx = Depends(context)) -> Response:
        conn = ctx.connection(conn_id)
        tenants = ls.pending_tenants(conn.id)
        if not tenants:
            flash(request, "info", f"{ctx.display_name(conn)} is not waiting for an organisation to be chosen.")
            return see_other("/integrations")
        first_free = next((t.id for t in tenants if t.connected_by is None), None)
        name = ctx.display_name(conn)
        return render(ctx, "choose_organisation.html", conn=conn, name=name, tenants=tenants, first_free=first_free)

    @router.post("/integrations/{conn_id}/organisation", response_model=None)
    def organisation_choose(
        request: Request, conn_id: str, tenant_id: str = Form(""), ctx: Ctx = Depends(context)
    ) -> Response:
        conn = ctx.connection(conn_id)
        if not ctx.can_manage:
            raise Forbidden(f"Only an owner or admin can choose the organisation; you are a {ctx.role.value}.")
        try:
            ls.choose_tenant(conn.id, tenant_id[:128])
        except ValueError as exc:
            flash(request, "error", f"Could not connect: {exc}.")
            return see_other(f"/integrations/{conn.id}/organisation")
        flash(request, "ok", f"Connected to {ls.connection(conn.id).tenant_name}; syncing resumes.")
        return see_other("/integrations")

    @router.get("/integrations/callback", response_model=None)
    def oauth_callback(request: Request, ctx: Ctx = Depends(context)) -> Response:
        """Where the platform sends the browser back after consent (code, state and e.g. realmId)."""
        return complete(request)

    @router.get("/integrations/{provider}/callback", response_model=None)
    def oauth_callback_for(request: Request, provider: str, ctx: Ctx = Depends(context)) -> Response:
        return complete(request)

    @router.get("/integrations/{conn_id}/disconnect", response_class=HTMLResponse)
    def disconnect_confirm(conn_id: str, ctx: Ctx = Depends(context)) -> HTMLResponse:
        conn = ctx.connection(conn_id)
        return render(ctx, "disconnect.html", conn=conn, name=ctx.display_name(conn))

    @router.post("/integrations/{conn_id}/disconnect")
    def disconnect(request: Request, conn_id: str, ctx: Ctx = Depends(context)) -> RedirectResponse:
        conn = ctx.connection(conn_id)
        if not ctx.can_manage:
            raise Forbidden(f"Only an owner or admin can disconnect; you are a {ctx.role.value}.")
        ls.disconnect(conn.id)
        flash(request, "ok", f"Disconnected from {ctx.display_name(conn)}. Synced records and links are kept.")
        return see_other("/integrations")

    # -- errors and fixes ----------------------------------------------------------------------------
    @router.get("/errors", response_class=HTMLResponse)
    def errors(ctx: Ctx = Depends(context), entity: str = "", page: int = 1) -> HTMLResponse:
        per_page = 25
        page = max(1, page)
        ent = Entity(entity) if entity in {e.value for e in Entity} else None
        items: list[dict[str, Any]] = []
        total = 0
        if ctx.conn is not None:
            total = ac.failed_count(ctx.conn.id)
            views = ac.errors(ctx.conn.id, ent, limit=per_page, offset=(page - 1) * per_page)
            names = contact_names(ls.store, ctx.org_id, {v.app_id for v in views if v.entity is Entity.CONTACT})
            for v in views:
                contact_id = v.app_id if v.entity is Entity.CONTACT else None
                if v.entity is not Entity.CONTACT and "restore" in v.actions:
                    rec = ls.store.get_record(ctx.org_id, v.entity, v.app_id)
                    contact_id = getattr(rec.record, "contact_id", None) if rec else None
                items.append(
                    {
                        "e": v,
                        "title": names.get(v.app_id)
                        or (v.doc_number if v.entity in (Entity.INVOICE, Entity.CREDIT_NOTE) else None)
                        or v.app_id,
                        "contact_id": contact_id,
                        "buttons": present.buttons(
                            v.actions,
                            v.state,
                            can_manage=ctx.can_manage,
                            role=ctx.role.value,
                            platform=ctx.platform,
                            entity=v.entity,
                        ),
                    }
                )
        return render(ctx, "errors.html", items=items, total=total, page=page, per_page=per_page, entity=entity)

    @router.post("/attachments/retry", response_model=None)
    def retry_attachment(
        request: Request,
        conn: str = Form(...),
        entity: str = Form(...),
        app_id: str = Form(...),
        filename: str = Form(...),
        ctx: Ctx = Depends(context),
    ) -> Response:
        """Send a file the platform refused again on the next sync (members may, as with a record's Retry)."""
        c = ctx.connection(conn)
        try:
            ent = Entity(entity)
        except ValueError:
            raise Forbidden(f"unknown kind of record {entity!r}") from None
        if ls.retry_attachment(c.id, ent, app_id, filename):
            flash(request, "ok", f"{filename} goes to {ctx.display_name(c)} again with the next sync.")
        else:
            flash(request, "warn", f"{filename} has not failed on {ctx.display_name(c)}.")
        return see_other(present.record_url(ent, app_id) + "#attachments")

    @router.post("/actions/{action}", response_model=None)
    def act(
        request: Request,
        action: str,
        conn: str = Form(...),
        entity: str = Form(...),
        app_id: str = Form(...),
        remote_id: str = Form(""),
        contact_id: str = Form(""),
        next: str = Form(""),
        ctx: Ctx = Depends(context),
    ) -> Response:
        c = ctx.connection(conn)
        try:
            ent = Entity(entity)
        except ValueError:
            raise Forbidden(f"unknown kind of record {entity!r}") from None
        back = safe_next(next, present.record_url(ent, app_id))
        name = ctx.display_name(c)
        actor = ctx.actor
        try:
            if action == "retry":
                run_retry(actor, c.id, ent, app_id)
                st = ls.store.get_state(c.id, ent, app_id)
                if st is not None and st.state in ("failed", "needs_review"):
                    flash(request, "warn", f"Tried again; {name} still refuses it: {st.error_message}")
                else:
                    flash(request, "ok", f"Sent to {name}: {present.STATE_LABEL.get(st.state if st else '', 'done')}.")
            elif action == "skip":
                ac.skip(actor, c.id, ent, app_id)
                flash(request, "ok", f"Skipped: the app's copy is kept and {name} is left as it is.")
            elif action == "exclude":
                ac.exclude(actor, c.id, ent, app_id)
                flash(request, "ok", f"Excluded: this {present.entity_kind(ent)} no longer syncs with {name}.")
            elif action == "include":
                ac.include(actor, c.id, ent, app_id)
                flash(request, "ok", "Included again: it goes with the next sync.")
            elif action == "merge":
                rid = ac.merge(actor, c.id, app_id, remote_id.strip() or None)
                flash(request, "ok", f"Merged into the existing {name} contact ({rid}); it is used from now on.")
            elif action == "link":
                if not remote_id.strip():
                    flash(request, "error", f"Enter the {name} id of the record to link to.")
                    return see_other(back)
                ac.link(actor, c.id, ent, app_id, remote_id.strip())
                flash(request, "ok", f"Linked to {name} record {remote_id.strip()}; details go with the next sync.")
            elif action == "record_credit":
                credit = ac.record_credit(actor, c.id, app_id)
                run_sync_now(actor, c.id)
                flash(
                    request,
                    "ok",
                    "The invoices are paid in full and the excess is recorded as customer credit"
                    + (f" ({credit})." if credit else "."),
                )
            elif action == "create_new":
                ac.create_new(actor, c.id, ent, app_id)
                st = ls.store.get_state(c.id, ent, app_id)
                label = present.STATE_LABEL.get(st.state if st else "", "done")
                flash(request, "ok", f"Sent to {name} as a new record: {label}.")
            elif action == "restore":
                ac.restore(actor, c.id, contact_id or app_id)
                run_sync_now(actor, c.id)
                flash(request, "ok", f"The contact is active again in {name}; its documents were sent again.")
            elif action == "keep_app":
                ac.keep_app(actor, c.id, ent, app_id, now=True)
                flash(request, "ok", f"The app's version is kept and was sent to {name}.")
            elif action == "keep_platform":
                ac.keep_platform(actor, c.id, ent, app_id)
                flash(request, "ok", f"{name}'s version is kept; the app's record now matches it.")
            else:
                raise Forbidden(f"unknown action {action!r}")
        except PermissionDenied as exc:
            raise Forbidden(str(exc).capitalize() + ".") from None
        except ConnectionBusy:
            flash(request, "info", f"A sync with {name} is running right now; try again in a minute.")
        except ProviderError as exc:
            why = " ".join(p for p in (exc.error.message, exc.error.hint) if p)
            flash(request, "error", f"{present.ACTION_LABEL.get(action, action)} did not work: {why}")
        except (ActionError, LookupError) as exc:
            flash(request, "error", f"{present.ACTION_LABEL.get(action, action)} did not work: {exc}")
        return see_other(back)

    # -- record lists and pages ----------------------------------------------------------------------
    def record_list(ctx: Ctx, kind: str, state: str, q: str, page: int) -> HTMLResponse:
        entity = LISTS[kind]
        result = list_records(
            ls.store,
            ctx.org_id,
            ctx.conn.id if ctx.conn else None,
            entity,
            state=state if state in present.FILTER_STATES else None,
            search=q or None,
            page=page,
        )
        ids = {str(getattr(r.record, "contact_id", "") or "") for r in result.rows} - {""}
        names = contact_names(ls.store, ctx.org_id, ids) if entity is not Entity.CONTACT else {}
        query = {k: v for k, v in (("state", state), ("q", q)) if v}
        return render(
            ctx,
            "records.html",
            kind=kind,
            entity=entity,
            result=result,
            names=names,
            state=state,
            q=q,
            query=urlencode(query),
        )

    def list_route(kind: str) -> None:
        @router.get(f"/{kind}", response_class=HTMLResponse, name=f"web_{kind}")
        def view(ctx: Ctx = Depends(context), state: str = "", q: str = "", page: int = 1) -> HTMLResponse:
            return record_list(ctx, kind, state, q, page)

    for kind in LISTS:
        list_route(kind)

    def _link_picker(ctx: Ctx, ent: Entity, remote_id: str | None, pick: str, q: str) -> dict[str, Any] | None:
        """Account controls: an unlinked customer (supplier, product) is linked by picking from the platform's
        list, searchable, unlinked ones first; or created new. Owners and admins only; the platform is read only
        when the list is asked for."""
        if ctx.conn is None or not ctx.can_manage or remote_id or ent not in PICKABLE:
            return None
        out: dict[str, Any] = {"q": q[:100], "loaded": False, "candidates": [], "error": None}
        if pick or q:
            try:
                out["candidates"] = ac.link_candidates(ctx.actor, ctx.conn.id, ent, q[:100], limit=100)
                out["loaded"] = True
            except ProviderError as exc:
                out["error"] = f"{ctx.platform} could not be read: {exc.error.message} {exc.error.hint or ''}".strip()
            except ConnectionBusy:
                out["error"] = f"A sync with {ctx.platform} is running right now; search again in a minute."
        return out

    @router.get("/records/{entity}/{app_id}", response_class=HTMLResponse)
    def record_page(
        entity: str, app_id: str, ctx: Ctx = Depends(context), pick: str = "", q: str = ""
    ) -> HTMLResponse:
        try:
            ent = Entity(entity)
        except ValueError:
            return render(ctx, "missing.html", status_code=404, what=f"{entity} {app_id}")
        view = ls.get(ctx.org_id, ent, app_id, ctx.conn.id if ctx.conn else None)
        if view is None:
            return render(ctx, "missing.html", status_code=404, what=f"{present.entity_kind(ent)} {app_id}")
        st = ls.store.get_state(ctx.conn.id, ent, app_id) if ctx.conn else None
        number = getattr(view.record, "number", None)
        history = record_history(ls.store, [c.id for c in ctx.connections], ent, app_id, number)
        contact_id = getattr(view.record, "contact_id", None)
        contact = contact_names(ls.store, ctx.org_id, {contact_id}) if contact_id else {}
        picker = _link_picker(ctx, ent, view.remote_id, pick, q)
        divergence = ac.divergence(ctx.conn.id, ent, app_id) if ctx.conn else None
        return render(
            ctx,
            "record.html",
            entity=ent,
            view=view,
            st=st,
            picker=picker,
            divergence=divergence,
            history=history,
            contact=contact,
            attachments=ls.attachments(ctx.org_id, ent, app_id),
            buttons=present.buttons(
                view.actions,
                view.state,
                can_manage=ctx.can_manage,
                role=ctx.role.value,
                platform=ctx.platform,
                entity=ent,
            )
            if ctx.conn
            else [],
        )

    # -- event log -----------------------------------------------------------------------------------
    @router.get("/events", response_class=HTMLResponse)
    def events(
        ctx: Ctx = Depends(context),
        q: str = "",
        kind: str = "",
        outcome: str = "",
        entity: str = "",
        before: int | None = None,
    ) -> HTMLResponse:
        result = list_events(
            ls.store,
            ctx.org_id,
            search=q or None,
            kind=kind or None,
            outcome=outcome or None,
            entity=entity or None,
            before=before,
        )
        query = {k: v for k, v in (("q", q), ("kind", kind), ("outcome", outcome), ("entity", entity)) if v}
        return render(
            ctx,
            "events.html",
            result=result,
            q=q,
            kind=kind,
            outcome=outcome,
            entity=entity,
            kinds=EVENT_KINDS,
            outcomes=OUTCOMES,
            entities=[e.value for e in Entity],
            query=urlencode(query),
            first_page=before is None,
        )

    return router


def _services() -> Any:
    """The REST API's shared service functions, when that package is installed alongside."""
    try:
        return importlib.import_module("ledgersync.api.services")
    except ImportError:
        return None


def forbidden_page(request: Request, message: str) -> HTMLResponse:
    return problem_page(request, 403, "Not allowed", message)


def problem_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """A plain page for a request the dashboard could not carry out: what happened and what to do."""
    return TEMPLATES.TemplateResponse(
        request, "forbidden.html", {"message": message, "title": title}, status_code=status
    )


__all__ = [
    "TEMPLATES",
    "CsrfFailed",
    "Ctx",
    "Forbidden",
    "LoginRequired",
    "build_router",
    "forbidden_page",
    "problem_page",
]

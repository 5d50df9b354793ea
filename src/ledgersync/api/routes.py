"""The `/v1` REST routes: organisations, keys, connections, records, states, actions, events, sync, webhooks."""

import urllib.parse
from typing import Annotated, Any, cast

from fastapi import APIRouter, BackgroundTasks, Body, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field, create_model

from ledgersync import (
    ActionCentre,
    ConnectStart,
    Contact,
    CreditNote,
    CustomerCredit,
    CycleReport,
    Entity,
    Invoice,
    Item,
    LedgerSync,
    Payment,
    PermissionDenied,
    Record,
    Role,
    WebhookRefused,
)
from ledgersync.api import outbound, services
from ledgersync.api.auth import RANK, Caller, Principal, issue_key, require_admin_token
from ledgersync.api.limits import check_record
from ledgersync.api.schemas import (
    ActionResult,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AttemptOut,
    ConnectionCreate,
    ConnectionOut,
    ConnectionUpdate,
    ConnectStartOut,
    CredentialFieldOut,
    CredentialsSubmit,
    CycleReportOut,
    DeliveryOut,
    DeliveryPage,
    DivergenceOut,
    DownloadOut,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    ErrorOut,
    EventOut,
    EventPage,
    HealthOut,
    LinkBody,
    MergeBody,
    OrganisationCreate,
    OrganisationCreated,
    OrganisationOut,
    OrganisationUpdate,
    Problem,
    RecordOut,
    RecordPage,
    RecordSync,
    RetryBody,
    StateOut,
    StatePage,
    SyncRequest,
    TenantChoiceOut,
    TenantChoose,
    VerifyOut,
    VerifyRequest,
)
from ledgersync.api.settings import ApiSettings
from ledgersync.store import StoredRecord
from ledgersync.store.repo import STATES
from ledgersync.store.tables import ApiKey, Connection, Event, WebhookDelivery, WebhookEndpoint

COMMON: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body could not be read (not JSON, or not UTF-8)"},
    401: {"model": Problem, "description": "No or unknown API key"},
    403: {"model": Problem, "description": "The key's role may not do this"},
    404: {"model": Problem, "description": "No such resource in this organisation"},
    413: {"model": Problem, "description": "The request body is larger than this server accepts"},
    422: {"model": Problem, "description": "Invalid request"},
}
PLATFORM: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "Not possible in the record's or connection's current state"},
    502: {"model": Problem, "description": "The platform refused or failed (message and hint included)"},
    503: {"model": Problem, "description": "The platform is busy or rate limited; retry later"},
}
# Sync now with Celery workers (`serve --no-scheduler`): queued, not run here.
QUEUED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Queued for the workers: {\"status\": \"queued\", \"task_id\": ...}"},
}

router = APIRouter(prefix="/v1", responses=COMMON)

Id = Annotated[str, Path(min_length=1, max_length=128)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
# Records can be large (up to the body limit each), so their pages are smaller.
RecordLimit = Annotated[int, Query(ge=1, le=200)]
# Per organisation: enough for any app, few enough that a list is one bounded answer.
MAX_LIVE_KEYS = 100
MAX_ENDPOINTS = 50
StateFilter = Annotated[str | None, Query(description=f"One of {', '.join(STATES)}", max_length=32)]


def _start_out(start: ConnectStart) -> ConnectStartOut:
    return ConnectStartOut(
        connection_id=start.connection_id,
        kind=start.kind,
        status=start.status,
        next_step=start.next_step,
        authorization_url=start.authorization_url,
        fields=[CredentialFieldOut(name=f.name, label=f.label, secret=f.secret, help=f.help) for f in start.fields],
        file=DownloadOut(name=start.file.name, media_type=start.file.media_type, content=start.file.content)
        if start.file
        else None,
        user_name=start.user_name,
        password=start.password,
    )


# A consent that reached several organisations (Xero) waits in this status for one to be chosen.
CHOOSE = "choose_organisation"


def ls_of(request: Request) -> LedgerSync:
    return cast(LedgerSync, request.app.state.ledgersync)


def settings_of(request: Request) -> ApiSettings:
    return cast(ApiSettings, request.app.state.settings)


def own_connection(ls: LedgerSync, who: Principal, conn_id: str) -> Connection:
    """The connection if it belongs to the caller's organisation; 404 otherwise (never 403: no oracle)."""
    try:
        conn = ls.connection(conn_id)
    except KeyError:
        conn = None
    if conn is None or conn.org_id != who.org_id:
        raise HTTPException(404, f"no connection {conn_id}")
    return conn


def check_operator_settings(settings: ApiSettings, config: dict[str, str | None]) -> None:
    """`base_url` decides where the server sends the app's client id and secret: it is the operator's to set
    (LEDGERSYNC_ALLOW_BASE_URLS), never an API caller's. Removing it (back to the platform) is always allowed."""
    base = config.get("base_url")
    if base is not None and not outbound.base_url_allowed(base, settings.allowed_base_urls):
        raise HTTPException(
            422,
            "base_url is an operator setting: this deployment does not allow connections to "
            f"{base!r} (the operator lists allowed ones in LEDGERSYNC_ALLOW_BASE_URLS)",
        )


def check_webhook_url(settings: ApiSettings, url: str) -> None:
    try:
        outbound.check_url(url, allow_private=settings.allow_private_urls)
    except outbound.UnsafeUrl as exc:
        raise HTTPException(422, f"url: {exc}") from None


def _usable(conn: Connection) -> None:
    if conn.status == CHOOSE:
        raise HTTPException(
            409, f"choose the organisation to connect first: GET and POST /v1/connections/{conn.id}/tenants"
        )
    if conn.status in ("pending_consent", "disconnected"):
        raise HTTPException(409, f"the connection is {conn.status.replace('_', ' ')}; connect it first")


def _report(r: CycleReport) -> CycleReportOut:
    return CycleReportOut(
        connection_id=r.connection_id,
        status=r.status,
        message=r.message,
        started_at=r.started_at,
        finished_at=r.finished_at,
        pulled=r.pulled,
        created_in_app=r.created_in_app,
        pushed=r.pushed,
        failed=r.failed,
        reconciled=r.reconciled,
        calls=r.calls,
    )


def _connection_out(ls: LedgerSync, c: Connection) -> ConnectionOut:
    return ConnectionOut(
        id=c.id,
        provider=c.provider,
        tenant_id=c.tenant_id,
        tenant_name=c.tenant_name,
        status=c.status,
        status_reason=c.status_reason,
        last_sync_at=c.last_sync_at,
        last_success_at=c.last_success_at,
        config_keys=ls.setting_names(c.id),
        webhook_path=f"/v1/webhooks/{c.provider}/{c.id}" if c.provider in ls.webhook_providers() else None,
        created_at=c.created_at,
    )


# -- organisations and API keys ---------------------------------------------------------------------------------
def _key_out(k: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=k.id,
        name=k.name,
        role=Role(k.role),
        prefix=k.prefix,
        created_at=k.created_at,
        last_used_at=k.last_used_at,
        revoked=k.revoked_at is not None,
    )


@router.post("/organisations", status_code=201, tags=["organisations"], response_model=OrganisationCreated)
def create_organisation(
    request: Request, _admin: Annotated[None, Depends(require_admin_token)], body: OrganisationCreate
) -> OrganisationCreated:
    """Create an organisation and its first owner key (deployment admin token only)."""
    ls = ls_of(request)
    if body.id and ls.store.get_org(body.id) is not None:
        raise HTTPException(409, f"organisation {body.id} already exists")
    org_id = ls.create_organisation(body.name, body.id)
    org = ls.store.get_org(org_id)
    assert org is not None
    issued = issue_key(ls, org_id, Role.OWNER, "owner")
    return OrganisationCreated(
        organisation=_org_out(ls, org.id),
        owner_key=ApiKeyCreated(**_key_out(issued.key).model_dump(), token=issued.token),
    )


def _org_out(ls: LedgerSync, org_id: str) -> OrganisationOut:
    org = ls.store.get_org(org_id)
    if org is None:
        raise HTTPException(404, "organisation not found")
    return OrganisationOut(
        id=org.id,
        name=org.name,
        created_at=org.created_at,
        relay_between_platforms=ls.relay_between_platforms(org.id),
        relay_between_platforms_own=ls.org_relay_setting(org.id),
    )


@router.get("/organisation", tags=["organisations"], response_model=OrganisationOut)
def get_organisation(request: Request, who: Caller) -> OrganisationOut:
    """The organisation the API key belongs to, with its settings (each in effect, and its own)."""
    return _org_out(ls_of(request), who.org_id)


@router.patch("/organisation", tags=["organisations"], response_model=OrganisationOut)
def update_organisation(request: Request, who: Caller, body: OrganisationUpdate) -> OrganisationOut:
    """Change the business's settings (owners and admins). `relay_between_platforms`: whether documents that
    came in from one of its platforms (an invoice entered in Xero) are sent to its other connected platforms
    (QuickBooks), each through that connection's code maps; null returns to the deployment's default."""
    ls = ls_of(request)
    who.require(Role.ADMIN, "change the organisation's settings")
    if "relay_between_platforms" in body.model_fields_set:
        ls.set_relay_between_platforms(who.org_id, body.relay_between_platforms)
    return _org_out(ls, who.org_id)


@router.get("/api-keys", tags=["organisations"], response_model=list[ApiKeyOut])
def list_api_keys(request: Request, who: Caller, limit: Limit = 100, offset: Offset = 0) -> list[ApiKeyOut]:
    """The organisation's keys, oldest first, `limit` at a time."""
    return [_key_out(k) for k in ls_of(request).store.api_keys(who.org_id)[offset : offset + limit]]


@router.post("/api-keys", status_code=201, tags=["organisations"], response_model=ApiKeyCreated)
def create_api_key(request: Request, who: Caller, body: ApiKeyCreate) -> ApiKeyCreated:
    """A new key for this organisation; its token is shown only in this answer."""
    who.require(Role.ADMIN, "create API keys")
    if RANK[body.role] > RANK[who.actor.role]:
        raise PermissionDenied(f"a {who.actor.role.value} key cannot create a {body.role.value} key")
    ls = ls_of(request)
    if ls.store.count_live_api_keys(who.org_id) >= MAX_LIVE_KEYS:
        raise HTTPException(409, f"an organisation may have at most {MAX_LIVE_KEYS} live API keys; revoke one first")
    issued = issue_key(ls, who.org_id, body.role, body.name)
    return ApiKeyCreated(**_key_out(issued.key).model_dump(), token=issued.token)


@router.delete("/api-keys/{key_id}", status_code=204, tags=["organisations"])
def revoke_api_key(request: Request, who: Caller, key_id: Id) -> Response:
    who.require(Role.ADMIN, "revoke API keys")
    ls = ls_of(request)
    key = next((k for k in ls.store.api_keys(who.org_id) if k.id == key_id and k.revoked_at is None), None)
    if key is None:
        raise HTTPException(404, f"no API key {key_id}")
    if RANK[Role(key.role)] > RANK[who.actor.role]:
        raise PermissionDenied(f"a {who.actor.role.value} key cannot revoke a {key.role} key")
    ls.store.revoke_api_key(who.org_id, key_id)
    return Response(status_code=204)


# -- connections ------------------------------------------------------------------------------------------------
@router.get("/connections", tags=["connections"], response_model=list[ConnectionOut])
def list_connections(request: Request, who: Caller, limit: Limit = 100, offset: Offset = 0) -> list[ConnectionOut]:
    """The organisation's connections, oldest first, `limit` at a time."""
    ls = ls_of(request)
    return [_connection_out(ls, c) for c in ls.connections(who.org_id)[offset : offset + limit]]


@router.post("/connections", status_code=201, tags=["connections"], response_model=ConnectStartOut)
def create_connection(request: Request, who: Caller, body: ConnectionCreate) -> ConnectStartOut:
    """Start connecting a platform; the answer says what to do next for its connect flow (`kind`). OAuth:
    send the person's browser to `authorization_url`; the platform returns to `/v1/oauth/callback` (the
    connection's redirect_uri), which completes it. Credentials: POST them to `.../credentials` (or include
    them in `config`, which connects at once). Web Connector: offer `file` and show `password` once.
    Secret settings (client_secret, webhook keys, API keys) are stored encrypted and never shown again."""
    who.require(Role.ADMIN, "connect a platform")
    ls = ls_of(request)
    if body.provider not in ls.providers:
        raise HTTPException(422, f"unknown provider {body.provider!r}; known: {', '.join(sorted(ls.providers))}")
    check_operator_settings(settings_of(request), dict(body.config))
    try:
        start = ls.connect(who.org_id, body.provider, body.config)
    except (KeyError, TypeError, ValueError) as exc:
        raise HTTPException(422, f"the connection settings are incomplete or invalid: {exc}") from None
    return _start_out(start)


@router.get("/connections/{connection_id}", tags=["connections"], response_model=ConnectionOut)
def get_connection(request: Request, who: Caller, connection_id: Id) -> ConnectionOut:
    ls = ls_of(request)
    return _connection_out(ls, own_connection(ls, who, connection_id))


@router.patch("/connections/{connection_id}", tags=["connections"], response_model=ConnectionOut)
def update_connection(request: Request, who: Caller, connection_id: Id, body: ConnectionUpdate) -> ConnectionOut:
    """Change settings (e.g. `webhook_key`, the platform's webhook signing key); null removes a key. The
    result is validated first; secret settings are stored encrypted and never shown."""
    ls = ls_of(request)
    own_connection(ls, who, connection_id)
    who.require(Role.ADMIN, "change a connection's settings")
    check_operator_settings(settings_of(request), dict(body.config))
    try:
        ls.update_settings(connection_id, body.config)
    except ValueError as exc:
        raise HTTPException(422, f"the connection settings are invalid: {exc}") from None
    return _connection_out(ls, ls.connection(connection_id))


@router.post(
    "/connections/{connection_id}/refresh-link",
    tags=["connections"],
    response_model=ConnectStartOut,
    responses=PLATFORM,
)
def refresh_link(request: Request, who: Caller, connection_id: Id) -> ConnectStartOut:
    """Reconnect ("Refresh link"): links, states and cursors are kept. The answer is the flow's next step,
    as for a new connection (a Web Connector gets a new password; the old one stops working)."""
    ls = ls_of(request)
    own_connection(ls, who, connection_id)
    who.require(Role.ADMIN, "refresh a connection's link")
    try:
        start = ls.refresh_link(connection_id)
    except (KeyError, TypeError, ValueError) as exc:
        raise HTTPException(422, f"the connection settings are incomplete or invalid: {exc}") from None
    return _start_out(start)


@router.post(
    "/connections/{connection_id}/credentials",
    tags=["connections"],
    response_model=ConnectionOut,
    responses=PLATFORM,
)
def submit_credentials(
    request: Request, who: Caller, connection_id: Id, body: Annotated[CredentialsSubmit | None, Body()] = None
) -> ConnectionOut:
    """Finish a connection made with credentials (e.g. DEAR's account id and application key): they are
    checked with the platform first (502 with its words if refused) and only then saved, encrypted."""
    ls = ls_of(request)
    own_connection(ls, who, connection_id)
    who.require(Role.ADMIN, "connect a platform")
    fields = (body or CredentialsSubmit()).fields
    check_operator_settings(settings_of(request), dict(fields))
    try:
        ls.submit_credentials(connection_id, fields)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return _connection_out(ls, ls.connection(connection_id))


@router.get("/connections/{connection_id}/tenants", tags=["connections"], response_model=list[TenantChoiceOut])
def list_tenants(request: Request, who: Caller, connection_id: Id) -> list[TenantChoiceOut]:
    """The organisations a consent reached, while the connection is `choose_organisation` (one Xero consent
    may add several; the callback then connects none of them). Empty for any other connection: QuickBooks
    Online's consent is for one company (its `realmId`), MYOB's for one business, so they never wait here."""
    ls = ls_of(request)
    own_connection(ls, who, connection_id)
    return [
        TenantChoiceOut(tenant_id=t.id, name=t.name, connected_by=t.connected_by)
        for t in ls.pending_tenants(connection_id)
    ]


@router.post("/connections/{connection_id}/tenants", tags=["connections"], response_model=ConnectionOut)
def choose_tenant(
    request: Request, who: Caller, connection_id: Id, body: Annotated[TenantChoose | None, Body()] = None
) -> ConnectionOut:
    """Connect a `choose_organisation` connection to one of the organisations its consent reached (owners and
    admins). 409 when it is not waiting for a choice; 422 when that organisation was not in the consent or
    another of the business's connections already syncs with it."""
    ls = ls_of(request)
    conn = own_connection(ls, who, connection_id)
    who.require(Role.ADMIN, "connect a platform")
    if conn.status != CHOOSE:
        raise HTTPException(409, "this connection is not waiting for an organisation to be chosen")
    if body is None or not body.tenant_id:
        raise HTTPException(422, "tenant_id is required: one of GET /v1/connections/{id}/tenants")
    try:
        ls.choose_tenant(connection_id, body.tenant_id)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return _connection_out(ls, ls.connection(connection_id))


@router.post("/connections/{connection_id}/disconnect", tags=["connections"], response_model=ConnectionOut)
def disconnect(request: Request, who: Caller, connection_id: Id) -> ConnectionOut:
    """Stop syncing; tokens are dropped, synced records and links are kept."""
    ls = ls_of(request)
    own_connection(ls, who, connection_id)
    who.require(Role.ADMIN, "disconnect")
    ls.disconnect(connection_id)
    return _connection_out(ls, ls.connection(connection_id))


@router.get(
    "/oauth/callback",
    tags=["connections"],
    status_code=303,
    responses={303: {"description": "To the dashboard"}, 400: {"model": Problem}, 502: {"model": Problem}},
)
def oauth_callback(
    request: Request,
    state: Annotated[str, Query(min_length=1, max_length=256)],
    code: Annotated[str | None, Query(max_length=4096)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> RedirectResponse:
    """Where the platform sends the browser back: `state` is checked (single use, 15 minutes), the code
    is exchanged for tokens, then the browser goes on to the dashboard."""
    ls = ls_of(request)
    target = settings_of(request).dashboard_url
    sep = "&" if "?" in target else "?"
    if error or not code:
        conn_id = ls.cancel_connect(state)
        if conn_id is None:
            raise HTTPException(400, "unknown or expired OAuth state: start connecting again")
        reason = urllib.parse.quote(error or "no authorization code")
        return RedirectResponse(f"{target}{sep}connection={conn_id}&error={reason}", status_code=303)
    try:
        # The whole query goes on: a platform may need more than the code (QuickBooks' realmId).
        conn_id = ls.complete_callback(request.url.query)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    if ls.connection(conn_id).status == CHOOSE:
        # Several organisations in the consent: the dashboard (or the app, with GET and POST
        # /v1/connections/{id}/tenants) asks the person which one this connection is for.
        return RedirectResponse(f"{target}{sep}choose={conn_id}", status_code=303)
    return RedirectResponse(f"{target}{sep}connected={conn_id}", status_code=303)


@router.get("/connections/{connection_id}/health", tags=["sync"], response_model=HealthOut)
def health(request: Request, who: Caller, connection_id: Id) -> HealthOut:
    """Last sync phrase, stale flag, status, records per state and the failed count."""
    ls = ls_of(request)
    own_connection(ls, who, connection_id)
    return HealthOut(**services.health_view(ls, connection_id).__dict__)


@router.post(
    "/connections/{connection_id}/sync", tags=["sync"], response_model=CycleReportOut, responses={**PLATFORM, **QUEUED}
)
def sync_connection(
    request: Request, who: Caller, connection_id: Id, body: Annotated[SyncRequest | None, Body()] = None
) -> CycleReportOut:
    """Sync now: the whole connection, one record (entity + app_id, with what it needs), or everything not
    synced yet (waiting backoffs cleared). Members may do this."""
    ls = ls_of(request)
    conn = own_connection(ls, who, connection_id)
    _usable(conn)
    body = body or SyncRequest()
    entity = _entity(body.entity) if body.entity else None
    if (entity is None) != (body.app_id is None):
        raise HTTPException(422, "give both entity and app_id to sync one record, or neither")
    if (queued := _enqueued(request, who, connection_id, entity, body.app_id, body.everything_not_synced)) is not None:
        return queued  # type: ignore[no-any-return]
    report = services.sync_now(
        ls, who.actor, connection_id, entity, body.app_id, everything_not_synced=body.everything_not_synced
    )
    return _report(report)


def _enqueued(
    request: Request, who: Principal, conn_id: str, entity: Entity | None, app_id: str | None, everything: bool
) -> Any:
    """With workers (`serve --no-scheduler`), Sync now is a task: 202 and its id; else None (run it here)."""
    enqueue = getattr(request.app.state, "enqueue", None)
    if enqueue is None:
        return None
    record = (entity, app_id) if entity is not None and app_id is not None else None
    if record is not None and ls_of(request).store.get_record(who.org_id, *record) is None:
        raise HTTPException(404, f"no {record[0].value} {record[1]!r}")
    task = enqueue.sync_now(
        conn_id, entity, app_id, everything_not_synced=everything, actor=who.actor.name, role=who.actor.role.value
    )
    return JSONResponse({"status": "queued", "task_id": task}, status_code=202)


def _entity(value: str) -> Entity:
    try:
        return Entity(value)
    except ValueError:
        raise HTTPException(422, f"unknown entity {value!r}; one of {', '.join(e.value for e in Entity)}") from None


# -- sync states, errors and actions ------------------------------------------------------------------------------
@router.get("/connections/{connection_id}/states", tags=["sync"], response_model=StatePage)
def list_states(
    request: Request,
    who: Caller,
    connection_id: Id,
    entity: Entity | None = None,
    state: StateFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> StatePage:
    ls = ls_of(request)
    own_connection(ls, who, connection_id)
    page, total = ls.store.states_page(connection_id, entity, state, limit=limit, offset=offset)
    return StatePage(
        items=[
            StateOut(
                entity=r.entity,
                app_id=r.app_id,
                state=r.state,
                doc_number=r.doc_number,
                error_code=r.error_code,
                error_message=r.error_message,
                hint=r.hint,
                platform_code=r.platform_code,
                platform_message=r.platform_message,
                actions=list(r.actions or []),
                attempts=r.attempts or 0,
                next_attempt_at=r.next_attempt_at,
                updated_at=r.updated_at,
            )
            for r in page
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/connections/{connection_id}/errors", tags=["actions"], response_model=list[ErrorOut])
def list_errors(
    request: Request,
    who: Caller,
    connection_id: Id,
    entity: Entity | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[ErrorOut]:
    """Records that did not sync: why, in plain words, and the fixes that fit."""
    ls = ls_of(request)
    own_connection(ls, who, connection_id)
    return [
        ErrorOut(**{**e.__dict__, "entity": e.entity.value})
        for e in ActionCentre(ls).errors(connection_id, entity, limit=limit, offset=offset)
    ]


ACTION_DOCS = {
    "retry": "Try again (members may): clears the failure and its backoff; `now` pushes it at once.",
    "skip": "Keep the app's copy as it is and take it off the error list (owner/admin).",
    "exclude": "Do not sync this record until included again (owner/admin).",
    "include": "Sync an excluded record again (owner/admin).",
    "merge": "Use the existing platform contact (by id, or found by name); its details win (owner/admin).",
    "link": "Use a chosen existing platform record; the app's details are sent to it (owner/admin).",
    "record_credit": "Pay the invoices in full and record a payment's excess as customer credit (owner/admin).",
    "restore": "Un-archive the platform contact; its failed invoices retry (owner/admin).",
    "create_new": "The alternative to link: send the record to the platform as a new one, now (owner/admin).",
    "keep_app": "A record in conflict or drifted: keep the app's version; it goes to the platform (owner/admin).",
    "keep_platform": "A record in conflict or drifted: the app's record becomes the platform's (owner/admin).",
}
NEEDS_PLATFORM = {"merge", "link", "record_credit", "restore", "create_new"}


def _act(
    request: Request,
    who: Principal,
    connection_id: str,
    entity: Entity,
    app_id: str,
    action: str,
    remote_id: str | None = None,
    now: bool = True,
) -> ActionResult:
    ls = ls_of(request)
    conn = own_connection(ls, who, connection_id)
    if ls.store.get_record(who.org_id, entity, app_id) is None:
        raise HTTPException(404, f"no {entity.value} {app_id!r}")
    if action in NEEDS_PLATFORM or (action == "retry" and now):
        _usable(conn)
    out = services.run_action(ls, who.actor, connection_id, entity, app_id, action, remote_id=remote_id, now=now)
    return ActionResult(
        action=action,
        entity=entity.value,
        app_id=app_id,
        state=out.state,
        remote_id=out.remote_id,
        credit_id=out.credit_id,
        report=_report(out.report) if out.report else None,
    )


ACTION_PATH = "/connections/{connection_id}/records/{entity}/{app_id}/actions"
ACTION_KW: dict[str, Any] = {"tags": ["actions"], "response_model": ActionResult, "responses": PLATFORM}


@router.post(f"{ACTION_PATH}/retry", description=ACTION_DOCS["retry"], **ACTION_KW)
def action_retry(
    request: Request,
    who: Caller,
    connection_id: Id,
    entity: Entity,
    app_id: Id,
    body: Annotated[RetryBody | None, Body()] = None,
) -> ActionResult:
    return _act(request, who, connection_id, entity, app_id, "retry", now=(body or RetryBody()).now)


def _plain_action(name: str) -> None:
    def handler(request: Request, who: Caller, connection_id: Id, entity: Entity, app_id: Id) -> ActionResult:
        return _act(request, who, connection_id, entity, app_id, name)

    handler.__name__ = f"action_{name}"
    router.add_api_route(
        f"{ACTION_PATH}/{name}",
        handler,
        methods=["POST"],
        description=ACTION_DOCS[name],
        name=f"action_{name}",
        **ACTION_KW,
    )


for _name in ("skip", "exclude", "include", "record_credit", "restore", "create_new", "keep_app", "keep_platform"):
    _plain_action(_name)


# -- link from a list (account controls) ----------------------------------------------------------------------
class LinkCandidateOut(BaseModel):
    """A platform record a person may link an app record to."""

    remote_id: str
    name: str
    detail: str | None = None
    linked_to: str | None = Field(None, description="the app record already linked to it (None: free)")
    archived: bool = False


@router.get(
    "/connections/{connection_id}/link-candidates/{entity}",
    tags=["actions"],
    response_model=list[LinkCandidateOut],
    responses=PLATFORM,
)
def link_candidates(
    request: Request,
    who: Caller,
    connection_id: Id,
    entity: Entity,
    search: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[LinkCandidateOut]:
    """The platform's customers (suppliers, products) to link to, read now: searchable by any word of the name
    or email, the ones not yet linked first (owner/admin)."""
    ls = ls_of(request)
    conn = own_connection(ls, who, connection_id)
    _usable(conn)
    try:
        found = ActionCentre(ls).link_candidates(who.actor, connection_id, entity, search, limit)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return [LinkCandidateOut(**c.__dict__) for c in found]


@router.post(f"{ACTION_PATH}/merge", description=ACTION_DOCS["merge"], **ACTION_KW)
def action_merge(
    request: Request,
    who: Caller,
    connection_id: Id,
    entity: Entity,
    app_id: Id,
    body: Annotated[MergeBody | None, Body()] = None,
) -> ActionResult:
    return _act(request, who, connection_id, entity, app_id, "merge", remote_id=(body or MergeBody()).remote_id)


@router.post(f"{ACTION_PATH}/link", description=ACTION_DOCS["link"], **ACTION_KW)
def action_link(
    request: Request, who: Caller, connection_id: Id, entity: Entity, app_id: Id, body: LinkBody
) -> ActionResult:
    return _act(request, who, connection_id, entity, app_id, "link", remote_id=body.remote_id)


@router.post(
    "/connections/{connection_id}/records/{entity}/{app_id}/sync",
    tags=["sync"],
    response_model=CycleReportOut,
    responses={**PLATFORM, **QUEUED},
)
def sync_record(request: Request, who: Caller, connection_id: Id, entity: Entity, app_id: Id) -> CycleReportOut:
    """Sync now, this record only (with the contact / invoices it needs on the platform first)."""
    ls = ls_of(request)
    conn = own_connection(ls, who, connection_id)
    _usable(conn)
    if ls.store.get_record(who.org_id, entity, app_id) is None:
        raise HTTPException(404, f"no {entity.value} {app_id!r}")
    if (queued := _enqueued(request, who, connection_id, entity, app_id, False)) is not None:
        return queued  # type: ignore[no-any-return]
    return _report(services.sync_now(ls, who.actor, connection_id, entity, app_id))


@router.get(
    "/connections/{connection_id}/records/{entity}/{app_id}/divergence",
    tags=["actions"],
    response_model=DivergenceOut,
)
def get_divergence(request: Request, who: Caller, connection_id: Id, entity: Entity, app_id: Id) -> DivergenceOut:
    """Both versions of a record in `conflict` or `drifted`, side by side, with the fields that differ."""
    ls = ls_of(request)
    own_connection(ls, who, connection_id)
    view = ActionCentre(ls).divergence(connection_id, entity, app_id)
    if view is None:
        raise HTTPException(404, f"{entity.value} {app_id!r} is neither in conflict nor drifted")
    return DivergenceOut(**{**view.__dict__, "entity": view.entity.value})


@router.post("/connections/{connection_id}/verify", tags=["sync"], response_model=VerifyOut, responses=PLATFORM)
def verify_connection(
    request: Request, who: Caller, connection_id: Id, body: Annotated[VerifyRequest | None, Body()] = None
) -> VerifyOut:
    """Check against the platform, field by field: every synced record that differs becomes `drifted` with
    both versions and the fixes. Members may do this."""
    ls = ls_of(request)
    conn = own_connection(ls, who, connection_id)
    _usable(conn)
    body = body or VerifyRequest()
    return services.verify_out(ls.verify(connection_id, sample=body.sample, call_budget=body.call_budget))


# -- the event log ----------------------------------------------------------------------------------------------
def _event_out(e: Event) -> EventOut:
    return EventOut(
        id=e.id,
        at=e.at,
        kind=e.kind,
        connection_id=e.connection_id,
        entity=e.entity,
        app_id=e.app_id,
        remote_id=e.remote_id,
        doc_number=e.doc_number,
        outcome=e.outcome,
        message=e.message,
        details=dict(e.details or {}),
    )


Text = Annotated[str | None, Query(max_length=255)]


@router.get("/events", tags=["events"], response_model=EventPage)
def search_events(
    request: Request,
    who: Caller,
    connection_id: Annotated[str | None, Query(max_length=128)] = None,
    doc_number: Text = None,
    search: Text = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    entity: Entity | None = None,
    app_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Limit = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> EventPage:
    """The event log, newest first: by document number (exact), text (message, document number or record
    id), kind, outcome, record. Page with `before_id=next_before_id`."""
    ls = ls_of(request)
    if connection_id:
        own_connection(ls, who, connection_id)
    rows = ls.store.events(
        org_id=who.org_id,
        connection_id=connection_id,
        doc_number=doc_number,
        search=search,
        kind=kind,
        outcome=outcome,
        entity=entity,
        app_id=app_id,
        limit=limit,
        before_id=before_id,
    )
    return EventPage(items=[_event_out(e) for e in rows], next_before_id=rows[-1].id if len(rows) == limit else None)


class AppEventOut(BaseModel):
    id: int
    type: str
    entity: str | None
    app_id: str | None
    payload: dict[str, Any]
    at: Any = Field(description="When it happened (UTC)")


@router.get("/app-events", tags=["events"], response_model=list[AppEventOut])
def app_events(
    request: Request,
    who: Caller,
    after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Limit = 100,
) -> list[AppEventOut]:
    """Changes the platform side made, oldest first (the same events webhooks carry), for polling."""
    rows = ls_of(request).store.app_events(who.org_id, after_id, limit)
    return [
        AppEventOut(id=e.id, type=e.type, entity=e.entity, app_id=e.app_id, payload=dict(e.payload), at=e.at)
        for e in rows
    ]


# -- outbound webhook endpoints and their delivery log ------------------------------------------------------------
def _endpoint_out(e: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=e.id,
        url=e.url,
        description=e.description,
        event_types=list(e.event_types or []),
        active=e.active,
        created_at=e.created_at,
    )


def own_endpoint(ls: LedgerSync, who: Principal, endpoint_id: str) -> WebhookEndpoint:
    e = ls.store.get_webhook_endpoint(endpoint_id)
    if e is None or e.org_id != who.org_id:
        raise HTTPException(404, f"no webhook endpoint {endpoint_id}")
    return e


@router.get("/webhook-endpoints", tags=["webhooks"], response_model=list[EndpointOut])
def list_endpoints(request: Request, who: Caller, limit: Limit = 100, offset: Offset = 0) -> list[EndpointOut]:
    """The organisation's endpoints (removed ones too), oldest first, `limit` at a time."""
    return [_endpoint_out(e) for e in ls_of(request).store.webhook_endpoints(who.org_id)[offset : offset + limit]]


@router.post("/webhook-endpoints", status_code=201, tags=["webhooks"], response_model=EndpointCreated)
def create_endpoint(request: Request, who: Caller, body: EndpointCreate) -> EndpointCreated:
    """Register a URL for signed (Standard Webhooks) events; the whsec_ secret verifies them. The URL must be
    public http(s): its host is resolved and every address checked (loopback, private, link-local, multicast
    and reserved ones are refused, however they are spelt), now and again at every delivery."""
    who.require(Role.ADMIN, "register webhook endpoints")
    ls = ls_of(request)
    check_webhook_url(settings_of(request), str(body.url))
    if ls.store.count_webhook_endpoints(who.org_id) >= MAX_ENDPOINTS:
        raise HTTPException(409, f"an organisation may have at most {MAX_ENDPOINTS} webhook endpoints")
    secret = services.new_webhook_secret()
    e = ls.store.create_webhook_endpoint(who.org_id, str(body.url), secret, list(body.event_types), body.description)
    return EndpointCreated(**_endpoint_out(e).model_dump(), secret=secret)


@router.get("/webhook-endpoints/{endpoint_id}", tags=["webhooks"], response_model=EndpointOut)
def get_endpoint(request: Request, who: Caller, endpoint_id: Id) -> EndpointOut:
    return _endpoint_out(own_endpoint(ls_of(request), who, endpoint_id))


@router.patch("/webhook-endpoints/{endpoint_id}", tags=["webhooks"], response_model=EndpointOut)
def update_endpoint(request: Request, who: Caller, endpoint_id: Id, body: EndpointUpdate) -> EndpointOut:
    ls = ls_of(request)
    own_endpoint(ls, who, endpoint_id)
    who.require(Role.ADMIN, "change webhook endpoints")
    values = body.model_dump(exclude_unset=True)
    if values.get("url") is not None:
        values["url"] = str(body.url)
        check_webhook_url(settings_of(request), values["url"])
    values = {k: v for k, v in values.items() if v is not None or k == "description"}
    if values:
        ls.store.update_webhook_endpoint(endpoint_id, **values)
    return _endpoint_out(own_endpoint(ls, who, endpoint_id))


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, tags=["webhooks"])
def delete_endpoint(request: Request, who: Caller, endpoint_id: Id) -> Response:
    """Stop sending to this endpoint (it stays, disabled, so its delivery log remains readable)."""
    ls = ls_of(request)
    own_endpoint(ls, who, endpoint_id)
    who.require(Role.ADMIN, "remove webhook endpoints")
    ls.store.update_webhook_endpoint(endpoint_id, active=False)
    return Response(status_code=204)


@router.post("/webhook-endpoints/{endpoint_id}/rotate-secret", tags=["webhooks"], response_model=EndpointCreated)
def rotate_secret(request: Request, who: Caller, endpoint_id: Id) -> EndpointCreated:
    ls = ls_of(request)
    own_endpoint(ls, who, endpoint_id)
    who.require(Role.ADMIN, "rotate webhook secrets")
    secret = services.new_webhook_secret()
    ls.store.update_webhook_endpoint(endpoint_id, secret=secret)
    return EndpointCreated(**_endpoint_out(own_endpoint(ls, who, endpoint_id)).model_dump(), secret=secret)


def _delivery_out(ls: LedgerSync, d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        endpoint_id=d.endpoint_id,
        event_type=d.event_type,
        message_id=d.message_id,
        status=d.status,
        attempts=d.attempts or 0,
        response_code=d.response_code,
        last_error=d.last_error,
        next_attempt_at=d.next_attempt_at if d.status in ("pending", "retrying") else None,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
        payload=dict(d.payload),
        attempt_log=[
            AttemptOut(
                attempt=a.attempt,
                at=a.at,
                response_code=a.response_code,
                error=a.error,
                duration_ms=a.duration_ms,
                next_attempt_at=a.next_attempt_at,
            )
            for a in ls.store.webhook_attempts(d.id)
        ],
    )


@router.get("/webhook-deliveries", tags=["webhooks"], response_model=DeliveryPage)
def list_deliveries(
    request: Request,
    who: Caller,
    endpoint_id: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=16, description="pending, retrying, delivered, failed")] = None,
    event_type: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DeliveryPage:
    """The delivery log, newest first: endpoint, event, attempts, status, response code, next attempt."""
    ls = ls_of(request)
    if endpoint_id:
        own_endpoint(ls, who, endpoint_id)
    rows, total = ls.store.webhook_deliveries(
        who.org_id, endpoint_id=endpoint_id, status=status, event_type=event_type, limit=limit, offset=offset
    )
    return DeliveryPage(items=[_delivery_out(ls, d) for d in rows], total=total, limit=limit, offset=offset)


def own_delivery(ls: LedgerSync, who: Principal, delivery_id: int) -> WebhookDelivery:
    d = ls.store.get_webhook_delivery(delivery_id)
    if d is None or d.org_id != who.org_id:
        raise HTTPException(404, f"no webhook delivery {delivery_id}")
    return d


DeliveryId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/webhook-deliveries/{delivery_id}", tags=["webhooks"], response_model=DeliveryOut)
def get_delivery(request: Request, who: Caller, delivery_id: DeliveryId) -> DeliveryOut:
    ls = ls_of(request)
    return _delivery_out(ls, own_delivery(ls, who, delivery_id))


@router.post("/webhook-deliveries/{delivery_id}/redeliver", tags=["webhooks"], response_model=DeliveryOut)
def redeliver(request: Request, who: Caller, delivery_id: DeliveryId) -> DeliveryOut:
    """Send again on the next delivery pass (same webhook-id, so receivers can de-duplicate)."""
    ls = ls_of(request)
    own_delivery(ls, who, delivery_id)
    who.require(Role.ADMIN, "redeliver webhooks")
    ls.store.redeliver(delivery_id)
    return _delivery_out(ls, own_delivery(ls, who, delivery_id))


# -- inbound platform webhooks --------------------------------------------------------------------------------------
def webhook_router(ls: LedgerSync) -> APIRouter:
    """One route per platform that sends webhooks, `/v1/webhooks/{name}/{connection_id}`, each handing the raw
    body to that platform's own parser (signature check, intent to receive, events -> records to refresh)."""
    hooks = APIRouter(prefix="/v1", responses=COMMON)
    for name, spec in sorted(ls.webhook_providers().items()):
        _inbound_route(hooks, name, spec.webhook_auth)
    return hooks


def _inbound_route(hooks: APIRouter, provider: str, auth: str) -> None:
    async def receive(request: Request, connection_id: Id, background: BackgroundTasks) -> Response:
        body = await request.body()  # the RAW bytes: a signature covers them exactly
        ls = ls_of(request)
        settings = settings_of(request)
        try:
            conn, changes = ls.receive_webhook(provider, connection_id, body, request.headers)
        except WebhookRefused:
            return Response(status_code=401)
        # Each event once (a replay answers 200 and does nothing), after the response (the platform wants its
        # 200 within seconds, the fetch may take longer), and one refresh at a time per connection.
        enqueue = getattr(request.app.state, "enqueue", None)
        if (
            enqueue is not None
            and changes
            and services.first_delivery(ls, conn.id, body, settings.inbound_dedupe_seconds)
        ):
            # With workers, the refresh is a task (idempotent; a busy connection is retried by the task).
            enqueue.refresh(conn.id, changes)
        elif (
            enqueue is None
            and changes
            and services.first_delivery(ls, conn.id, body, settings.inbound_dedupe_seconds)
            and services.queue_platform_changes(conn.id, changes)
        ):
            background.add_task(services.drain_platform_changes, ls, conn.id, wait=settings.refresh_wait_seconds)
        return Response(status_code=200)

    receive.__name__ = f"{provider}_webhook"
    hooks.add_api_route(
        f"/webhooks/{provider}/{{connection_id}}",
        receive,
        methods=["POST"],
        tags=["platform webhooks"],
        name=f"{provider}_webhook",
        summary=f"Receive {provider} webhooks",
        description=(
            f"Authenticated by the platform ({auth}). A call that fails the check gets 401 and nothing is "
            "stored; a valid event answers 200 at once and the named records are fetched and applied in the "
            "background. Each event is acted on once: a replay (same event ids, else the same signed body) "
            "answers 200 and does nothing."
        ),
        responses={200: {"description": "Accepted (empty body)"}, 401: {"description": "Not from the platform"}},
        response_class=Response,
    )


# -- the app's records ------------------------------------------------------------------------------------------
ENTITY_PATHS: dict[str, type[Record]] = {
    "contacts": Contact,
    "items": Item,
    "invoices": Invoice,
    "payments": Payment,
    "credit-notes": CreditNote,
    "credits": CustomerCredit,
}
WRITABLE = {"contacts", "items", "invoices", "payments", "credit-notes"}


def _record_views(
    ls: LedgerSync, who: Principal, recs: list[StoredRecord], entity: Entity, connection_id: str | None
) -> list[RecordOut[Any]]:
    conns = ls.connections(who.org_id)
    if connection_id is not None:
        own_connection(ls, who, connection_id)
    primary = connection_id or (conns[0].id if conns else None)
    ids = [r.app_id for r in recs]
    per_conn = {c.id: (ls.store.state_map(c.id, entity, ids), ls.store.links(c.id, entity, ids)) for c in conns}
    out: list[RecordOut[Any]] = []
    for r in recs:
        sync = []
        for c in conns:
            states, links = per_conn[c.id]
            st, link = states.get(r.app_id), links.get(r.app_id)
            sync.append(
                RecordSync(
                    connection_id=c.id,
                    provider=c.provider,
                    state=st.state if st else "not_synced",
                    remote_id=link.remote_id if link else None,
                    error=st.error_message if st else None,
                    hint=st.hint if st else None,
                    actions=list(st.actions or []) if st else [],
                )
            )
        main = next((s for s in sync if s.connection_id == primary), None)
        out.append(
            RecordOut[Any](
                entity=entity.value,
                app_id=r.app_id,
                version=r.version,
                deleted=r.deleted,
                updated_at=r.updated_at,
                record=r.record,
                state=main.state if main else "not_synced",
                remote_id=main.remote_id if main else None,
                sync=sync,
            )
        )
    return out


def _record_routes(path: str, model: type[Record]) -> None:
    entity = model.entity
    tag = path.replace("-", " ")
    Out = RecordOut[model]  # type: ignore[valid-type]
    Page = RecordPage[model]  # type: ignore[valid-type]
    ConnParam = Annotated[
        str | None, Query(max_length=128, description="Which connection's state to show first (default: first)")
    ]

    def list_records(
        request: Request,
        who: Caller,
        state: StateFilter = None,
        connection_id: ConnParam = None,
        limit: RecordLimit = 50,
        offset: Offset = 0,
    ) -> Any:
        ls = ls_of(request)
        conn_id = connection_id
        if conn_id is not None:
            own_connection(ls, who, conn_id)
        elif state is not None:
            conns = ls.connections(who.org_id)
            conn_id = conns[0].id if conns else None
        if state is not None and state not in STATES:
            raise HTTPException(422, f"unknown state {state!r}; one of {', '.join(STATES)}")
        recs, total = ls.store.record_page(who.org_id, entity, conn_id=conn_id, state=state, limit=limit, offset=offset)
        if state is not None and conn_id is None and state != "not_synced":
            recs, total = [], 0  # no connection: nothing can be in a sync state other than not_synced
        return Page(items=_record_views(ls, who, recs, entity, connection_id), total=total, limit=limit, offset=offset)

    def get_record(request: Request, who: Caller, app_id: Id, connection_id: ConnParam = None) -> Any:
        ls = ls_of(request)
        rec = ls.store.get_record(who.org_id, entity, app_id)
        if rec is None:
            raise HTTPException(404, f"no {entity.value} {app_id!r}")
        return _record_views(ls, who, [rec], entity, connection_id)[0]

    router.add_api_route(
        f"/{path}",
        list_records,
        methods=["GET"],
        response_model=Page,
        tags=[tag],
        name=f"list_{path}",
        description=f"The app's {tag}, by app id, with their sync state; filter by state (on `connection_id`).",
    )
    router.add_api_route(
        f"/{path}/{{app_id}}",
        get_record,
        methods=["GET"],
        response_model=Out,
        tags=[tag],
        name=f"get_{path}",
        description="One record with its sync state and platform id on each connection.",
    )
    if path not in WRITABLE:
        return
    Body_ = create_model(  # the id comes from the path; the body may repeat it
        f"{model.__name__}Body",
        __base__=model,
        id=(str | None, Field(default=None, min_length=1, max_length=128)),
    )

    def upsert(request: Request, who: Caller, app_id: Id, body: Body_) -> Any:
        ls = ls_of(request)
        data = body.model_dump()
        if data.get("id") not in (None, app_id):
            raise HTTPException(422, f"the body's id {data['id']!r} differs from the path's {app_id!r}")
        check_record(data)
        record = model.model_validate({**data, "id": app_id})
        ls.upsert(who.org_id, record)
        stored = ls.store.get_record(who.org_id, entity, app_id)
        assert stored is not None
        return _record_views(ls, who, [stored], entity, None)[0]

    def delete(request: Request, who: Caller, app_id: Id) -> Response:
        ls = ls_of(request)
        if ls.store.get_record(who.org_id, entity, app_id) is None:
            raise HTTPException(404, f"no {entity.value} {app_id!r}")
        ls.delete(who.org_id, entity, app_id)
        return Response(status_code=204)

    router.add_api_route(
        f"/{path}/{{app_id}}",
        upsert,
        methods=["PUT"],
        response_model=Out,
        tags=[tag],
        name=f"upsert_{path}",
        description=f"Create or update one of the app's {tag} by the app's own id; it syncs on the next cycle.",
    )
    router.add_api_route(
        f"/{path}/{{app_id}}",
        delete,
        methods=["DELETE"],
        status_code=204,
        tags=[tag],
        name=f"delete_{path}",
        description="Delete in the app: on the next sync the platform copy is voided, deleted or archived.",
    )


for _path, _model in ENTITY_PATHS.items():
    _record_routes(_path, _model)

"""Typed connection settings: the pydantic base each platform's config model extends, and how settings are read."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self, Union
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, model_validator


class ConfigError(ValueError):
    """Connection settings that do not validate. The message names each bad setting and why (never its value,
    which may be a secret)."""


def _json_object(value: Any) -> Any:
    # Settings arrive as strings over the API (`{"account_codes": "{\"200\": \"1\"}"}`) or as a dict in Python.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("must be a JSON object of code -> code") from None
    if not isinstance(value, Mapping):
        raise ValueError("must be a JSON object of code -> code")
    return {str(k): str(v) for k, v in value.items()}


def _http_url(value: Any) -> Any:
    # Kept exactly as given (a redirect URI must match the one registered with the platform byte for byte).
    if not isinstance(value, str):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    return value


CodeMapSetting = Annotated[dict[str, str], BeforeValidator(_json_object)]
UrlSetting = Annotated[str, BeforeValidator(_http_url)]


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return any(_is_secret(a) for a in typing.get_args(annotation))
    return False


class ProviderConfig(BaseModel):
    """Settings every platform shares. Subclasses add theirs and change defaults; secrets are SecretStr fields
    (kept encrypted at rest, never shown over the API). Empty strings mean "the default"."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, str_strip_whitespace=True, populate_by_name=True, hide_input_in_errors=True
    )

    base_url: UrlSetting | None = Field(None, description="Point every endpoint at one origin (a local sandbox)")
    timeout: float = Field(30, gt=0, description="Seconds per HTTP call")
    lookback_seconds: float = Field(300, ge=0, description="How far behind the saved cursor a pull reads")
    max_attempts: int = Field(4, ge=1, description="Tries per call on 429 / 5xx / timeouts")
    max_retry_seconds: float = Field(60, ge=0, description="The longest wait the client accepts before a retry")
    account_codes: CodeMapSetting = Field(default_factory=dict, description="The app's account codes -> ours")
    tax_codes: CodeMapSetting = Field(default_factory=dict, description="The app's tax codes -> ours")

    @model_validator(mode="before")
    @classmethod
    def _drop_empty(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if v is not None and v != ""}
        return data

    # -- what the settings are called -----------------------------------------------------------------------
    @classmethod
    def setting_names(cls) -> dict[str, str]:
        """Every accepted key (field names and their aliases) -> the field it sets."""
        names: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            names[name] = name
            alias = info.validation_alias
            choices = getattr(alias, "choices", None)
            for choice in choices if choices is not None else ([alias] if isinstance(alias, str) else []):
                if isinstance(choice, str):
                    names[choice] = name
        return names

    @classmethod
    def secret_names(cls) -> frozenset[str]:
        """The fields that hold secrets (encrypted at rest, never shown)."""
        return frozenset(n for n, info in cls.model_fields.items() if _is_secret(info.annotation))

    # -- reading them ---------------------------------------------------------------------------------------
    @classmethod
    def parse(cls, values: Mapping[str, Any], *, unknown: Literal["error", "ignore"] = "ignore") -> Self:
        """Validate settings; ConfigError names what is wrong. `unknown="error"` also refuses keys the platform
        does not have (what a person typed at connect time); stored rows are read with "ignore"."""
        if unknown == "error":
            known = cls.setting_names()
            extra = sorted(k for k in values if k not in known)
            if extra:
                raise ConfigError(
                    f"unknown setting{'s' if len(extra) > 1 else ''} {', '.join(extra)}; "
                    f"known: {', '.join(sorted(cls.model_fields))}"
                )
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "settings"
                problems.append(f"{where}: {err['msg'][0].lower()}{err['msg'][1:]}")
            raise ConfigError("; ".join(problems)) from None

    @classmethod
    def coerce(cls, value: ProviderConfig | Mapping[str, Any]) -> Self:
        """This model from a model (of this class or a base) or from a mapping of settings."""
        if isinstance(value, cls):
            return value
        if isinstance(value, ProviderConfig):
            value = value.settings()
        return cls.parse(value)

    def settings(self) -> dict[str, Any]:
        """The settings given (not defaulted) as values, secrets revealed, as `parse` accepts them: for handing
        on to another model, never for display."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            out[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return out

    def secret(self, name: str) -> str | None:
        """A secret setting's value, or None when unset."""
        value = getattr(self, name, None)
        return value.get_secret_value() if isinstance(value, SecretStr) else None


class OAuthAppConfig(ProviderConfig):
    """An OAuth2 platform app: its client id and secret and the redirect URI registered with the platform."""

    client_id: str = Field(min_length=1, max_length=512)
    client_secret: SecretStr
    redirect_uri: UrlSetting
    scopes: str | None = Field(None, description="Space-separated scopes (the platform's default when unset)")


def split_settings(
    model: type[ProviderConfig], values: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    """(plain, secret): settings as stored, keyed by field name. Plain ones are strings (JSON for maps), as
    the connection's config column holds them; secret ones go to the encrypted column."""
    names = model.setting_names()
    secret = model.secret_names()
    plain: dict[str, str] = {}
    hidden: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        field = names.get(key, key)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        (hidden if field in secret else plain)[field] = text
    return plain, hidden


__all__ = [
    "CodeMapSetting",
    "ConfigError",
    "OAuthAppConfig",
    "ProviderConfig",
    "UrlSetting",
    "split_settings",
]

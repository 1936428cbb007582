"""API shapes of the desk: answer templates (and their rendering) and wrap-up codes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from raccordo.platform.web.schemas import FromRows, Strict


class TemplateIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=100)
    shortcut: str = Field(
        min_length=1, max_length=32, description="Typed after / in the composer: lowercase letters, digits, - and _."
    )
    body: str = Field(
        min_length=1,
        max_length=10_000,
        description=(
            "Text with variables such as {{contact.first_name}}, {{contact.name}}, {{agent.name}}; "
            "undefined ones render empty."
        ),
    )
    bodies: dict[str, str] = Field(
        default_factory=dict,
        description=(
            'Optional other versions, keyed by language ("it", "en": the contact\'s), channel ("email": the '
            'one the agent answers on) or both ("email:it"); the most specific that fits is used, else body.'
        ),
    )
    active: bool = True


class TemplatePatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=100)
    shortcut: str | None = Field(default=None, min_length=1, max_length=32)
    body: str | None = Field(default=None, min_length=1, max_length=10_000)
    bodies: dict[str, str] | None = Field(
        default=None, description="Replaces every other version; keys as in TemplateIn."
    )
    active: bool | None = None


class TemplateOut(BaseModel):
    model_config = FromRows
    id: int
    name: str
    shortcut: str
    body: str
    bodies: dict[str, str]
    active: bool
    created_at: datetime
    updated_at: datetime


class RenderedTemplateOut(BaseModel):
    model_config = FromRows
    id: int
    name: str
    shortcut: str
    language: str | None = Field(description="The language of the body used; null: the default body or a channel's.")
    text: str
    variant: str | None = Field(
        default=None, description='The key of the version used ("email:it", "email", "it"); null: the default body.'
    )


class WrapUpCodeIn(BaseModel):
    model_config = Strict
    code: str = Field(
        min_length=1, max_length=64, description="Stored on the conversation: letters, digits, _ . and -."
    )
    label: str = Field(min_length=1, max_length=200)
    active: bool = True


class WrapUpCodePatch(BaseModel):
    model_config = Strict
    code: str | None = Field(default=None, min_length=1, max_length=64)
    label: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None


class WrapUpCodeOut(BaseModel):
    model_config = FromRows
    id: int
    code: str
    label: str
    active: bool
    created_at: datetime

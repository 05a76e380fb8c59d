"""Email templates with merge fields: checking what a user wrote and rendering it for one recipient.

Templates are Jinja2 run in the immutable sandbox. The context is plain nested dicts of strings built
by the caller from records (``{"contact": {"first_name": "Anna", "custom": {...}}, "deal": {...}}``),
so a template can only reach what the caller chose to offer. Pure Python: no Django, no database.
"""

from __future__ import annotations

import difflib
import functools
import re
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import css_inline
from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, Undefined, meta, nodes
from jinja2 import filters as jinja_filters
from jinja2.exceptions import SecurityError, TemplateAssertionError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from rapport.mail.plaintext import html_to_text

__all__ = [
    "MERGE_FIELDS",
    "MERGE_ROOTS",
    "RenderedEmail",
    "TemplateProblem",
    "check_template",
    "render_email",
]

# What the template editor offers, in the order it offers it.
MERGE_FIELDS: list[tuple[str, str]] = [
    ("contact.first_name", "Contact · First name"),
    ("contact.last_name", "Contact · Last name"),
    ("contact.full_name", "Contact · Full name"),
    ("contact.email", "Contact · Email"),
    ("contact.phone", "Contact · Phone"),
    ("contact.job_title", "Contact · Job title"),
    ("contact.city", "Contact · City"),
    ("contact.country", "Contact · Country"),
    ("organization.name", "Organization · Name"),
    ("organization.website", "Organization · Website"),
    ("organization.industry", "Organization · Industry"),
    ("organization.city", "Organization · City"),
    ("deal.name", "Deal · Name"),
    ("deal.amount", "Deal · Amount"),
    ("deal.currency", "Deal · Currency"),
    ("deal.stage", "Deal · Stage"),
    ("deal.close_date", "Deal · Close date"),
    ("owner.first_name", "Owner · First name"),
    ("owner.full_name", "Owner · Full name"),
    ("owner.email", "Owner · Email"),
    ("owner.phone", "Owner · Phone"),
    ("sender.name", "Sender · Name"),
    ("sender.email", "Sender · Email"),
    ("sender.signature", "Sender · Signature"),
]

MERGE_ROOTS: tuple[str, ...] = ("contact", "organization", "deal", "owner", "sender")
# Records whose custom fields a template may use as ``<root>.custom.<key>``.
CUSTOM_FIELD_ROOTS: tuple[str, ...] = ("contact", "organization", "deal")

SUBJECT_MAX_LENGTH = 998  # RFC 5322's line limit; a longer subject is never what the author meant
# Guards against a template that would exhaust the worker's memory or time. Generous for any real
# email, far below what hurts.
MAX_RANGE = 10_000
MAX_SEQUENCE_SIZE = 100_000
MAX_OUTPUT_CHARS = 2_000_000

_KNOWN_FIELDS = frozenset(path for path, _label in MERGE_FIELDS)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_SPACES = re.compile(r"\s+")


class TemplateProblem(ValueError):
    """A template that cannot be rendered; ``message`` is written for the person who wrote it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RenderedEmail:
    """One recipient's email: ``subject`` is a single safe header line, ``html`` has its CSS inlined,
    ``text`` is the plain-text alternative of ``html``."""

    subject: str
    html: str
    text: str


# -- the sandbox ------------------------------------------------------------------------------


class _MissingValue(ChainableUndefined):
    """A merge field with no value renders as nothing, however deep the path; but an attribute the
    sandbox refused (``__class__`` …) fails loudly the moment it is used, instead of vanishing."""

    __slots__ = ()

    def _refused(self) -> bool:
        return self._undefined_exception is SecurityError

    def __str__(self) -> str:
        if self._refused():
            self._fail_with_undefined_error()
        return ""

    def __html__(self) -> str:
        return str(self)

    def __bool__(self) -> bool:
        if self._refused():
            self._fail_with_undefined_error()
        return False

    def __iter__(self):
        if self._refused():
            self._fail_with_undefined_error()
        return iter(())

    def __len__(self) -> int:
        if self._refused():
            self._fail_with_undefined_error()
        return 0


def _is_missing(value: Any) -> bool:
    if isinstance(value, Undefined):
        if isinstance(value, _MissingValue) and value._refused():
            value._fail_with_undefined_error()
        return True
    return value is None or (isinstance(value, str) and not value.strip())


def _default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    # Records hold "" and None for "not filled in", which Jinja's own default() would print as is.
    if _is_missing(value) or (boolean and not value):
        return default_value
    return value


def _require_size(size: Any, what: str) -> None:
    if isinstance(size, int) and size > MAX_SEQUENCE_SIZE:
        raise SecurityError(f"{what} is too large for an email (at most {MAX_SEQUENCE_SIZE:,}).")


def _limited_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise OverflowError(f"range() may count at most {MAX_RANGE:,} items in an email template.")
    return numbers


def _bounded_filter(name: str, filter_function, size_argument: int):
    """Wrap a Jinja filter whose numeric argument decides how much text it produces."""

    def bounded(*args, **kwargs):
        if len(args) > size_argument:
            _require_size(args[size_argument], f"The width given to '{name}'")
        for value in kwargs.values():
            _require_size(value, f"The width given to '{name}'")
        return filter_function(*args, **kwargs)

    bounded.__name__ = filter_function.__name__
    # Keep Jinja's pass_eval_context / pass_environment marker so it still calls us correctly.
    if hasattr(filter_function, "jinja_pass_arg"):
        bounded.jinja_pass_arg = filter_function.jinja_pass_arg
    return bounded


_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


class _EmailSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus limits on the operators and calls that can multiply a value's size."""

    intercepted_binops = frozenset({"**", "*", "%"})

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)):
            # Jinja chains ** to the left, so (2**100)**100 must be refused by the result's size too.
            result_bits = abs(left).bit_length() * abs(right) if isinstance(left, int) else 0
            if abs(right) > 100 or result_bits > 100_000:
                raise SecurityError("That power is too large for an email template.")
        elif operator == "*":
            if isinstance(left, (str, list, tuple)):
                _require_size(len(left) * right if isinstance(right, int) else 0, "Repeated text")
            if isinstance(right, (str, list, tuple)):
                _require_size(len(right) * left if isinstance(left, int) else 0, "Repeated text")
        elif operator == "%" and isinstance(left, str):
            _require_size(_widest_format(left), "A format width")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args: Any, **kwargs: Any) -> Any:
        method_of_text = isinstance(getattr(__obj, "__self__", None), str)
        if method_of_text and getattr(__obj, "__name__", "") in _PADDING_METHODS:
            for value in (*args, *kwargs.values()):
                _require_size(value, f"The width given to '{__obj.__name__}'")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        # The sandbox hands out its own wrapper for "...".format at attribute access; check the
        # pattern's widths there, since the call itself no longer shows the string.
        if isinstance(getattr(value, "__self__", None), str) and getattr(value, "__name__", "") in (
            "format",
            "format_map",
        ):
            _require_size(_widest_format(value.__self__), "A format width")
        return super().wrap_str_format(value)


def _make_environment(*, autoescape: bool) -> _EmailSandbox:
    environment = _EmailSandbox(
        autoescape=autoescape,
        undefined=_MissingValue,
        # None from a record prints as nothing, not as "None".
        finalize=lambda value: "" if value is None else value,
        keep_trailing_newline=True,
    )
    environment.globals = {
        "range": _limited_range,
        "dict": dict,
        "cycler": environment.globals["cycler"],
        "joiner": environment.globals["joiner"],
        "namespace": environment.globals["namespace"],
    }
    environment.filters["default"] = environment.filters["d"] = _default
    environment.filters["center"] = _bounded_filter("center", jinja_filters.do_center, 1)
    environment.filters["indent"] = _bounded_filter("indent", jinja_filters.do_indent, 1)
    environment.filters["batch"] = _bounded_filter("batch", jinja_filters.do_batch, 1)
    environment.filters["format"] = _bounded_filter("format", _checked_format, 0)
    return environment


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?")
_BRACE_SPEC = re.compile(r"\{[^{}:]*:([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")


def _widest_format(pattern: str) -> int:
    """The largest width or precision a %-format or str.format pattern asks for; a width taken from
    an argument ('*' or a nested '{}') counts as unlimited."""
    widest = 0
    numbers: list[str] = []
    for width, precision in _PERCENT_SPEC.findall(pattern):
        numbers += [width, precision]
    for spec in _BRACE_SPEC.findall(pattern):
        if "{" in spec:
            return MAX_SEQUENCE_SIZE + 1
        numbers += re.findall(r"\d+", spec)
    for number in numbers:
        if number == "*":
            return MAX_SEQUENCE_SIZE + 1
        if number:
            widest = max(widest, int(number))
    return widest


def _checked_format(value: str, *args: Any, **kwargs: Any) -> str:
    _require_size(_widest_format(str(value)), "A format width")
    return jinja_filters.do_format(value, *args, **kwargs)


# Created once: building an environment is the slow part, and both are safe to share across threads.
_BODY_ENVIRONMENT = _make_environment(autoescape=True)
_SUBJECT_ENVIRONMENT = _make_environment(autoescape=False)
# Remote stylesheets stay off: a template must never make the server fetch a URL.
_CSS_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@functools.lru_cache(maxsize=256)
def _compiled(source: str, *, is_subject: bool) -> Template:
    environment = _SUBJECT_ENVIRONMENT if is_subject else _BODY_ENVIRONMENT
    return environment.from_string(source)


# -- checking -----------------------------------------------------------------------------------


def check_template(
    *, subject: str, body_html: str, custom_keys: dict[str, set[str]] | None = None
) -> dict[str, list[str]]:
    """Return the problems a user must fix, per field (``"subject"``, ``"body_html"``); an empty dict
    means the template compiles and every merge field it names exists.

    ``custom_keys`` maps ``"contact"``/``"organization"``/``"deal"`` to the custom field keys that
    exist; with ``None`` any ``<root>.custom.<key>`` is accepted, with a dict only the keys listed.
    Never raises for any input string.
    """
    problems: dict[str, list[str]] = {}
    for field, source, environment in (
        ("subject", subject, _SUBJECT_ENVIRONMENT),
        ("body_html", body_html, _BODY_ENVIRONMENT),
    ):
        messages = _problems_in(source or "", environment, custom_keys)
        if messages:
            problems[field] = messages
    return problems


def _problems_in(
    source: str, environment: _EmailSandbox, custom_keys: dict[str, set[str]] | None
) -> list[str]:
    try:
        tree = environment.parse(source)
        # Compiling also finds unknown filters and tests, which parsing alone lets through.
        environment.compile(tree)
    except TemplateSyntaxError as error:
        return [_explain_syntax_error(error, environment)]
    undeclared = meta.find_undeclared_variables(tree)
    messages: list[str] = []
    # There is no template loader: an email template stands alone.
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        messages.append(f"Line {node.lineno}: an email template cannot use other templates.")
    for path in _merge_paths(tree):
        if path[0] not in undeclared:
            continue  # a loop variable or {% set %} name, not a merge field
        message = _unknown_field_message(path, custom_keys, environment)
        if message and message not in messages:
            messages.append(message)
    return messages


def _merge_paths(node: nodes.Node) -> Iterable[tuple[str, ...]]:
    """Yield every ``name.attr.attr`` / ``name["key"]`` chain read by the template, outermost only."""
    if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
        parts: list[str] = []
        current: nodes.Node = node
        while True:
            if isinstance(current, nodes.Getattr):
                parts.append(current.attr)
                current = current.node
            elif isinstance(current, nodes.Getitem):
                if isinstance(current.arg, nodes.Const) and isinstance(current.arg.value, str):
                    parts.append(current.arg.value)
                else:
                    # A computed key: only the part before it can be checked.
                    parts.clear()
                    yield from _merge_paths(current.arg)
                current = current.node
            else:
                break
        if isinstance(current, nodes.Name):
            if current.ctx == "load":
                yield (current.name, *reversed(parts))
        else:
            yield from _merge_paths(current)
        return
    for child in node.iter_child_nodes():
        yield from _merge_paths(child)


def _known_paths(custom_keys: dict[str, set[str]] | None) -> list[str]:
    paths = [path for path, _label in MERGE_FIELDS]
    for root, keys in (custom_keys or {}).items():
        paths.extend(f"{root}.custom.{key}" for key in sorted(keys))
    return paths


def _unknown_field_message(
    path: tuple[str, ...], custom_keys: dict[str, set[str]] | None, environment: _EmailSandbox
) -> str | None:
    root = path[0]
    refused = next((part for part in path if part.startswith("_")), None)
    if refused:
        return f"'{refused}' cannot be used in an email template."
    if root in environment.globals:
        return None
    if root in MERGE_ROOTS and len(path) == 1:
        return None  # {% if deal %}: is there a deal at all
    candidates = _known_paths(custom_keys)
    if root in CUSTOM_FIELD_ROOTS and len(path) >= 2 and path[1] == "custom":
        if len(path) == 2 or custom_keys is None or path[2] in custom_keys.get(root, set()):
            return None
        field = ".".join(path[:3])
        # A mistyped custom key is only ever meant as another custom key of the same record.
        candidates = [path for path in candidates if path.startswith(f"{root}.custom.")]
    else:
        field = ".".join(path[:2])
        if field in _KNOWN_FIELDS:
            return None  # anything after is a string method such as .title(); the sandbox guards it
    suggestion = difflib.get_close_matches(field, candidates, n=1, cutoff=0.6)
    message = f"There is no merge field '{field}'."
    if suggestion:
        message += f" Did you mean {suggestion[0]}?"
    return message


_UNKNOWN_TAG = re.compile(r"Encountered unknown tag '(?P<tag>\w+)'")
_INNERMOST = re.compile(r"The innermost block that needs to be closed is '(?P<tag>\w+)'")
_NO_FILTER = re.compile(r"No (?P<kind>filter|test) named '(?P<name>[\w.]+)'")


def _explain_syntax_error(error: TemplateSyntaxError, environment: _EmailSandbox) -> str:
    """Jinja's message, reworded for someone who writes emails rather than code."""
    text = error.message or str(error)
    line = f"Line {error.lineno}: " if error.lineno else ""
    unknown_tag = _UNKNOWN_TAG.search(text)
    innermost = _INNERMOST.search(text)
    no_filter = _NO_FILTER.search(text)
    if unknown_tag:
        tag = unknown_tag.group("tag")
        if innermost:
            opened = innermost.group("tag")
            return (
                f"{line}the tag '{tag}' was not expected here — "
                f"the '{opened}' opened earlier must be closed first with {{% end{opened} %}}."
            )
        if tag.startswith("end") and len(tag) > 3:
            return f"{line}the tag '{tag}' was not expected — is an '{tag[3:]}' missing?"
        if tag in ("else", "elif"):
            return f"{line}the tag '{tag}' was not expected — is an 'if' missing?"
        return f"{line}there is no tag '{tag}'."
    if text.startswith("Unexpected end of template"):
        if innermost:
            opened = innermost.group("tag")
            return (
                f"{line}the template ends but the '{opened}' block is never closed — "
                f"add {{% end{opened} %}}."
            )
        return f"{line}the template ends in the middle of a tag — check the {{{{ }}}} and {{% %}} brackets."
    if no_filter and isinstance(error, TemplateAssertionError):
        kind, name = no_filter.group("kind"), no_filter.group("name")
        known = environment.filters if kind == "filter" else environment.tests
        message = f"{line}there is no {kind} '{name}'."
        suggestion = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
        if suggestion:
            message += f" Did you mean {suggestion[0]}?"
        return message
    if text.startswith("unexpected"):
        return f"{line}{text} — check the {{{{ }}}} and {{% %}} brackets."
    if text.startswith("expected token"):
        return f"{line}this tag is not written correctly ({text})."
    return f"{line}{text}"


# -- rendering ----------------------------------------------------------------------------------


def render_email(*, subject: str, body_html: str, context: Mapping[str, Any]) -> RenderedEmail:
    """Render one recipient's email.

    Guarantees: merge values are HTML-escaped in the body; the subject is one line — every CR, LF and
    other control character becomes a space and it is cut at 998 characters — so no merge value can
    add a header; missing values and None render as ""; ``default`` also replaces "" and None; the
    body's <style> rules are inlined (``@media`` rules stay in a <style> tag); ``text`` is the plain
    version of the html. Anything the template cannot do raises ``TemplateProblem(field, message)``.
    """
    context = dict(context)
    rendered_subject = _render("subject", subject or "", context)
    rendered_subject = _SPACES.sub(" ", _CONTROL_CHARACTERS.sub(" ", rendered_subject)).strip()
    rendered_subject = rendered_subject[:SUBJECT_MAX_LENGTH]
    rendered_html = _render("body_html", body_html or "", context)
    if rendered_html.strip():
        try:
            rendered_html = _CSS_INLINER.inline(rendered_html)
        except (ValueError, css_inline.InlineError) as error:
            raise TemplateProblem(
                "body_html", f"The email's CSS could not be applied: {error}"
            ) from error
    return RenderedEmail(
        subject=rendered_subject, html=rendered_html, text=html_to_text(rendered_html)
    )


def _render(field: str, source: str, context: dict[str, Any]) -> str:
    try:
        template = _compiled(source, is_subject=field == "subject")
    except TemplateSyntaxError as error:
        environment = _SUBJECT_ENVIRONMENT if field == "subject" else _BODY_ENVIRONMENT
        raise TemplateProblem(field, _explain_syntax_error(error, environment)) from error
    try:
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise SecurityError(
                    f"The email would be longer than {MAX_OUTPUT_CHARS:,} characters."
                )
            chunks.append(chunk)
        return "".join(chunks)
    except Exception as error:
        raise TemplateProblem(field, _explain_render_error(error)) from error


def _explain_render_error(error: Exception) -> str:
    line = _template_line(error)
    prefix = f"Line {line}: " if line else ""
    if isinstance(error, SecurityError):
        detail = str(error)
        if "unsafe" in detail or "access attribute" in detail:
            return f"{prefix}this template uses something email templates may not use ({detail})."
        return f"{prefix}{detail}"
    if isinstance(error, UndefinedError):
        return f"{prefix}{error.message} — only merge fields and simple filters can be used."
    if isinstance(error, OverflowError):
        return f"{prefix}{error}"
    if isinstance(error, TypeError) and "no loader" in str(error):
        return f"{prefix}an email template cannot use other templates."
    return f"{prefix}the template could not be rendered ({type(error).__name__}: {error})."


def _template_line(error: BaseException) -> int | None:
    # Jinja rewrites tracebacks so that template frames carry the template's own line numbers.
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == "<template>"
    ]
    return frames[-1].lineno if frames else None

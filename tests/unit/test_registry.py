"""The model registry: valid settings become Replicate's exact input, bad ones name their field."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from base_core.converter import converter
from base_core.errors import InvalidRegistry, InvalidRequest
from base_core.frozen import FrozenDict
from base_core.image_urls import UrlPolicy
from base_core.registry import (
    Action,
    GenerationRequest,
    ModelRegistry,
    ModelSpec,
    SettingSpec,
    SettingType,
    builtin_registry,
)
from base_core.seed_models import FLUX_SCHNELL, NANO_BANANA_EDIT, REAL_ESRGAN, SEED_MODELS
from entrypoints.models_file import parse_models_text

REGISTRY = builtin_registry()
TOP_LEVEL = ("prompt", "input_image_url")

pytestmark = pytest.mark.filterwarnings("error")

# --- strategies -------------------------------------------------------------------------

FORBIDDEN_CONTROLS = [chr(c) for c in range(32) if chr(c) not in "\n\r\t"] + [
    chr(c) for c in range(127, 160)
]

safe_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=FORBIDDEN_CONTROLS),
    max_size=60,
)
prompts = safe_text.filter(lambda s: s.strip() != "")

public_hosts = st.one_of(
    st.sampled_from(["example.com", "replicate.delivery", "images.example.org", "8.8.8.8", "[2606:4700::1111]"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,12}\.(com|net|org|io)", fullmatch=True),
)
url_paths = st.from_regex(r"(/[A-Za-z0-9._~-]{0,12}){0,3}", fullmatch=True)
public_urls = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}{path}",
    st.sampled_from(["http", "https"]),
    public_hosts,
    url_paths,
)


def value_for(spec: SettingSpec) -> st.SearchStrategy[Any]:
    """Any value the spec accepts."""
    kind = spec.type
    if kind is SettingType.INTEGER:
        return st.integers(int(spec.min), int(spec.max))
    if kind is SettingType.NUMBER:
        return st.one_of(
            st.integers(int(spec.min), int(spec.max)),
            st.floats(spec.min, spec.max, allow_nan=False, allow_infinity=False),
        )
    if kind is SettingType.SELECT:
        return st.sampled_from(spec.options)
    if kind is SettingType.BOOLEAN:
        return st.booleans()
    if kind in (SettingType.TEXT, SettingType.TEXTAREA):
        return safe_text.filter(lambda s: spec.max is None or len(s) <= spec.max)
    raise AssertionError(kind)


def optional_settings_of(model: ModelSpec) -> list[SettingSpec]:
    return [s for s in model.settings if s.name not in TOP_LEVEL]


@st.composite
def valid_requests(draw, model: ModelSpec | None = None) -> GenerationRequest:
    model = model or draw(st.sampled_from(SEED_MODELS))
    chosen = {}
    for spec in optional_settings_of(model):
        if draw(st.booleans()):
            chosen[spec.name] = draw(value_for(spec))
    return GenerationRequest(
        action=model.action.value,
        model_id=model.id,
        prompt=draw(prompts) if model.setting("prompt") else None,
        input_image_url=draw(public_urls) if model.setting("input_image_url") else None,
        settings=chosen,
    )


def expected_input(model: ModelSpec, request: GenerationRequest) -> dict[str, Any]:
    """Replicate's input, derived from the schema independently of `prepare`."""
    given_values = {**request.settings, "prompt": request.prompt, "input_image_url": request.input_image_url}
    expected: dict[str, Any] = {}
    for spec in model.settings:
        value = given_values.get(spec.name)
        if value is None:
            value = spec.default
        if value is None:
            continue
        expected[spec.input_key or spec.name] = (value,) if spec.as_list else value
    return expected


def assert_rejects(request: GenerationRequest, field: str, urls: UrlPolicy | None = None) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        REGISTRY.prepare(request, urls)
    assert caught.value.field == field, caught.value.message
    return caught.value


def request_for(model: ModelSpec, **changes: Any) -> GenerationRequest:
    """A valid request for `model`, with some fields replaced."""
    fields: dict[str, Any] = {
        "action": model.action.value,
        "model_id": model.id,
        "prompt": "a red fox in the snow" if model.setting("prompt") else None,
        "input_image_url": "https://example.com/in.png" if model.setting("input_image_url") else None,
        "settings": {},
    }
    fields.update(changes)
    return GenerationRequest(**fields)


# --- valid requests ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_valid_settings_are_accepted_and_mapped_to_the_exact_replicate_input(data) -> None:
    model = data.draw(st.sampled_from(SEED_MODELS))
    request = data.draw(valid_requests(model))
    prepared = REGISTRY.prepare(request)
    assert prepared.model is model
    assert prepared.replicate_input == expected_input(model, request)
    assert prepared.num_outputs == request.settings.get("num_outputs", 1)
    assert prepared.cost == model.price * prepared.num_outputs
    for name, value in request.settings.items():
        assert prepared.settings[name] == value


def test_defaults_fill_the_flux_input() -> None:
    prepared = REGISTRY.prepare(request_for(FLUX_SCHNELL, prompt="a cat"))
    assert prepared.replicate_input == {
        "prompt": "a cat",
        "aspect_ratio": "1:1",
        "num_outputs": 1,
        "num_inference_steps": 4,
        "output_format": "webp",
        "output_quality": 80,
        "disable_safety_checker": False,
        "go_fast": True,
        "megapixels": "1",
    }
    assert prepared.cost == 1


def test_nano_banana_takes_the_image_as_a_list_under_image_input() -> None:
    url = "https://example.com/cat.png"
    prepared = REGISTRY.prepare(request_for(NANO_BANANA_EDIT, input_image_url=url))
    assert prepared.replicate_input["image_input"] == (url,)
    assert "image" not in prepared.replicate_input
    assert "input_image_url" not in prepared.replicate_input


def test_upscalers_take_the_image_under_image() -> None:
    url = "https://example.com/cat.png"
    prepared = REGISTRY.prepare(request_for(REAL_ESRGAN, input_image_url=url))
    assert prepared.replicate_input == {"image": url, "scale": 4, "face_enhance": False}


@given(st.integers(1, 4))
def test_cost_is_price_times_num_outputs(num_outputs: int) -> None:
    prepared = REGISTRY.prepare(request_for(FLUX_SCHNELL, settings={"num_outputs": num_outputs}))
    assert prepared.cost == FLUX_SCHNELL.price * num_outputs


def test_private_hosts_pass_when_the_policy_allows_them() -> None:
    request = request_for(REAL_ESRGAN, input_image_url="http://127.0.0.1:9000/in.png")
    assert REGISTRY.prepare(request, UrlPolicy(allow_private_hosts=True)).replicate_input["image"]


# --- invalid settings -------------------------------------------------------------------


@given(st.sampled_from(SEED_MODELS), st.from_regex(r"[a-z_]{1,20}", fullmatch=True), st.integers())
def test_an_unknown_setting_is_refused_by_name(model: ModelSpec, name: str, value: int) -> None:
    assume(model.setting(name) is None)
    assert_rejects(request_for(model, settings={name: value}), f"settings.{name}")


@given(st.sampled_from(SEED_MODELS), st.sampled_from(TOP_LEVEL))
def test_top_level_fields_inside_settings_are_refused(model: ModelSpec, name: str) -> None:
    assert_rejects(request_for(model, settings={name: "x"}), f"settings.{name}")


def typed_settings() -> list[tuple[ModelSpec, SettingSpec]]:
    return [(m, s) for m in SEED_MODELS for s in optional_settings_of(m)]


def wrong_type_values(spec: SettingSpec) -> st.SearchStrategy[Any]:
    anything = st.one_of(
        st.text(max_size=5), st.integers(), st.floats(), st.booleans(), st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    )
    kind = spec.type
    if kind is SettingType.INTEGER:
        return anything.filter(lambda v: isinstance(v, bool) or not isinstance(v, int))
    if kind is SettingType.NUMBER:
        return anything.filter(lambda v: isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")))
    if kind is SettingType.BOOLEAN:
        return anything.filter(lambda v: not isinstance(v, bool))
    if kind is SettingType.SELECT:
        return anything.filter(lambda v: isinstance(v, bool) or v not in spec.options)
    return anything.filter(lambda v: not isinstance(v, str))


@settings(max_examples=300)
@given(st.data())
def test_a_value_of_the_wrong_type_names_its_setting(data) -> None:
    model, spec = data.draw(st.sampled_from(typed_settings()))
    value = data.draw(wrong_type_values(spec))
    assert_rejects(request_for(model, settings={spec.name: value}), f"settings.{spec.name}")


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_is_not_an_integer(value: bool) -> None:
    assert_rejects(request_for(FLUX_SCHNELL, settings={"num_outputs": value}), "settings.num_outputs")
    assert_rejects(request_for(REAL_ESRGAN, settings={"scale": value}), "settings.scale")


def ranged_settings() -> list[tuple[ModelSpec, SettingSpec]]:
    return [
        (m, s) for m, s in typed_settings()
        if s.type in (SettingType.INTEGER, SettingType.NUMBER)
    ]


@given(st.data())
def test_a_number_out_of_range_names_its_setting(data) -> None:
    model, spec = data.draw(st.sampled_from(ranged_settings()))
    value = data.draw(
        st.one_of(st.integers(max_value=int(spec.min) - 1), st.integers(min_value=int(spec.max) + 1))
    )
    assert_rejects(request_for(model, settings={spec.name: value}), f"settings.{spec.name}")


@given(st.sampled_from([m for m in SEED_MODELS if m.setting("prompt")]))
def test_a_missing_prompt_is_refused(model: ModelSpec) -> None:
    assert_rejects(request_for(model, prompt=None), "prompt")


@given(st.sampled_from([m for m in SEED_MODELS if m.setting("prompt")]), st.text(" \t\n\r", max_size=5))
def test_a_blank_prompt_is_refused(model: ModelSpec, blank: str) -> None:
    assert_rejects(request_for(model, prompt=blank), "prompt")


@given(st.sampled_from([m for m in SEED_MODELS if m.setting("input_image_url")]))
def test_a_missing_image_is_refused(model: ModelSpec) -> None:
    assert_rejects(request_for(model, input_image_url=None), "input_image_url")


@given(st.sampled_from([m for m in SEED_MODELS if not m.setting("prompt")]), prompts)
def test_a_prompt_for_a_model_without_one_is_refused(model: ModelSpec, prompt: str) -> None:
    assert_rejects(request_for(model, prompt=prompt), "prompt")


@given(st.sampled_from(SEED_MODELS), st.sampled_from(list(Action)))
def test_an_action_the_model_does_not_do_is_refused(model: ModelSpec, action: Action) -> None:
    assume(action is not model.action)
    assert_rejects(request_for(model, action=action.value), "model_id")


@given(st.text(max_size=12))
def test_an_unknown_action_is_refused(action: str) -> None:
    assume(action not in {a.value for a in Action})
    assert_rejects(request_for(FLUX_SCHNELL, action=action), "action")


@given(st.one_of(st.text(max_size=20), st.none(), st.integers()))
def test_an_unknown_model_is_refused(model_id: Any) -> None:
    assume(model_id not in {m.id for m in SEED_MODELS})
    assert_rejects(request_for(FLUX_SCHNELL, model_id=model_id), "model_id")


@given(safe_text, st.sampled_from(FORBIDDEN_CONTROLS), safe_text)
def test_control_characters_in_the_prompt_are_refused(before: str, control: str, after: str) -> None:
    assert_rejects(request_for(FLUX_SCHNELL, prompt=f"x{before}{control}{after}"), "prompt")


@given(st.integers(4001, 6000))
def test_a_too_long_prompt_is_refused(length: int) -> None:
    assert_rejects(request_for(FLUX_SCHNELL, prompt="a" * length), "prompt")


def test_a_prompt_of_exactly_the_limit_is_accepted() -> None:
    assert REGISTRY.prepare(request_for(FLUX_SCHNELL, prompt="a" * 4000)).replicate_input["prompt"]


# --- image URLs -------------------------------------------------------------------------

image_models = [m for m in SEED_MODELS if m.setting("input_image_url")]


def assert_url_rejected(url: Any) -> None:
    for model in image_models:
        assert_rejects(request_for(model, input_image_url=url), "input_image_url")


@given(
    st.sampled_from(["ftp", "file", "javascript", "data", "gopher", "ws", "HTTPX", "s3"]),
    public_hosts,
    url_paths,
)
def test_a_url_that_is_not_http_is_refused(scheme: str, host: str, path: str) -> None:
    assert_url_rejected(f"{scheme}://{host}{path}")


@pytest.mark.parametrize(
    "url", ["", "example.com/a.png", "https://", "https:///a.png", "//example.com/a.png", "https://exa mple.com/",
            "https://example.com:99999/", "https://example.com/a\x00.png", "https://[::1/", 42]
)
def test_a_malformed_url_is_refused(url: Any) -> None:
    assert_url_rejected(url)


def test_a_url_longer_than_2048_characters_is_refused() -> None:
    assert_url_rejected("https://example.com/" + "a" * 2048)


internal_ipv4 = st.one_of(
    st.ip_addresses(v=4, network="127.0.0.0/8"),
    st.ip_addresses(v=4, network="10.0.0.0/8"),
    st.ip_addresses(v=4, network="172.16.0.0/12"),
    st.ip_addresses(v=4, network="192.168.0.0/16"),
    st.ip_addresses(v=4, network="169.254.0.0/16"),
    st.ip_addresses(v=4, network="100.64.0.0/10"),
    st.ip_addresses(v=4, network="0.0.0.0/8"),
)
internal_ipv6 = st.one_of(
    st.just(ipaddress.IPv6Address("::1")),
    st.just(ipaddress.IPv6Address("::")),
    st.ip_addresses(v=6, network="fe80::/10"),
    st.ip_addresses(v=6, network="fc00::/7"),
)


def ipv4_spellings(address: ipaddress.IPv4Address) -> list[str]:
    """The ways URL parsers and resolvers accept an IPv4 address."""
    a, b, c, d = address.packed
    whole = int(address)
    return [
        str(address),
        str(whole),
        hex(whole),
        ".".join(f"0{octet:o}" for octet in (a, b, c, d)),
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"{a}.{b}.{(c << 8) | d}",
        f"[::ffff:{address}]",
        f"[::ffff:{(a << 8) | b:x}:{(c << 8) | d:x}]",
        f"{address}.",
    ]


@settings(max_examples=200)
@given(internal_ipv4, st.sampled_from(["http", "https"]), st.sampled_from(["", ":8080"]))
def test_internal_ipv4_hosts_are_refused_in_every_spelling(address, scheme: str, port: str) -> None:
    for host in ipv4_spellings(address):
        assert_url_rejected(f"{scheme}://{host}{port}/in.png")


@given(internal_ipv6)
def test_internal_ipv6_hosts_are_refused(address: ipaddress.IPv6Address) -> None:
    assert_url_rejected(f"https://[{address}]/in.png")


@given(internal_ipv4)
def test_ipv6_forms_that_embed_an_internal_ipv4_address_are_refused(address) -> None:
    embedded = int(address)
    for v6 in (
        ipaddress.IPv6Address(embedded),  # IPv4-compatible (::a.b.c.d)
        ipaddress.IPv6Address((0x2002 << 112) | (embedded << 80)),  # 6to4
        ipaddress.IPv6Address((0x64FF9B << 96) | embedded),  # NAT64 well-known prefix
    ):
        assert_url_rejected(f"https://[{v6}]/in.png")


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST", "app.localhost", "printer.local", "db.internal", "intranet", "localhost."],
)
def test_internal_names_are_refused(host: str) -> None:
    assert_url_rejected(f"https://{host}/in.png")


@given(
    st.sampled_from(["user@", "user:pw@", ":pw@", "a%40b:c@"]),
    public_hosts,
)
def test_a_url_carrying_credentials_is_refused(credentials: str, host: str) -> None:
    assert_url_rejected(f"https://{credentials}{host}/in.png")


@given(public_urls)
def test_public_urls_are_accepted_unchanged(url: str) -> None:
    for model in image_models:
        prepared = REGISTRY.prepare(request_for(model, input_image_url=url))
        key = model.setting("input_image_url").replicate_key
        assert url in (prepared.replicate_input[key], *prepared.replicate_input[key])


# --- loading from plain data (and the JSON and TOML a file holds) ------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def to_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for a registry's data (arrays of tables, scalars, lists)."""
    lines: list[str] = []
    for model in data["models"]:
        lines.append("[[models]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in model.items() if k != "settings"]
        for setting in model["settings"]:
            lines.append("[[models.settings]]")
            lines += [f"{k} = {toml_value(v)}" for k, v in setting.items()]
    return "\n".join(lines) + "\n"


names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
labels = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20
)


@st.composite
def setting_specs(draw, name: str) -> SettingSpec:
    kind = draw(st.sampled_from([t for t in SettingType if t is not SettingType.IMAGE]))
    common = {"name": name, "label": draw(labels), "type": kind, "required": draw(st.booleans())}
    if kind is SettingType.INTEGER:
        low = draw(st.integers(-1000, 1000))
        high = draw(st.integers(low, low + 1000))
        return SettingSpec(**common, min=low, max=high, default=draw(st.none() | st.integers(low, high)))
    if kind is SettingType.NUMBER:
        low = draw(st.floats(-1e6, 1e6, allow_nan=False))
        high = draw(st.floats(low, 2e6, allow_nan=False))
        return SettingSpec(**common, min=low, max=high, default=draw(st.none() | st.floats(low, high)))
    if kind is SettingType.SELECT:
        options = draw(st.lists(st.one_of(labels, st.integers(-50, 50)), min_size=1, max_size=5, unique=True))
        return SettingSpec(**common, options=tuple(options), default=draw(st.none() | st.sampled_from(options)))
    if kind is SettingType.BOOLEAN:
        return SettingSpec(**common, default=draw(st.none() | st.booleans()))
    return SettingSpec(
        **common, max=draw(st.none() | st.integers(1, 5000)), default=draw(st.none() | labels),
        input_key=draw(st.none() | names),
    )


@st.composite
def model_specs(draw, model_id: str) -> ModelSpec:
    setting_names = draw(st.lists(names.filter(lambda n: n not in TOP_LEVEL), max_size=5, unique=True))
    settings_ = [draw(setting_specs(n)) for n in setting_names]
    keys = [spec.replicate_key for spec in settings_]
    assume(len(set(keys)) == len(keys) and not set(keys) & {"prompt", "image", "image_input"})
    if draw(st.booleans()):
        settings_.insert(0, SettingSpec("prompt", draw(labels), SettingType.TEXTAREA, required=True, max=4000))
    if draw(st.booleans()):
        settings_.append(
            SettingSpec("input_image_url", draw(labels), SettingType.IMAGE, required=True,
                        input_key=draw(st.sampled_from(["image", "image_input"])), as_list=draw(st.booleans()))
        )
    version = draw(st.none() | st.from_regex(r"[0-9a-f]{64}", fullmatch=True))
    return ModelSpec(
        id=model_id,
        name=draw(names),
        display_name=draw(labels),
        replicate_model=f"{draw(names)}/{draw(names)}" + (f":{version}" if version else ""),
        action=draw(st.sampled_from(list(Action))),
        runs=draw(labels),
        description=draw(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)),
        settings=tuple(settings_),
        price=draw(st.integers(0, 1000)),
    )


@st.composite
def registries(draw) -> ModelRegistry:
    ids = draw(st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), min_size=1, max_size=4, unique=True))
    return ModelRegistry([draw(model_specs(i)) for i in ids])


def valid_values(spec: SettingSpec) -> st.SearchStrategy[Any]:
    if spec.type is SettingType.INTEGER:
        return st.integers(int(spec.min or 0), int(spec.max or 0))
    if spec.type is SettingType.NUMBER:
        return st.floats(spec.min, spec.max, allow_nan=False, allow_infinity=False)
    if spec.type is SettingType.SELECT:
        return st.sampled_from(spec.options or ())
    if spec.type is SettingType.BOOLEAN:
        return st.booleans()
    longest = int(spec.max) if spec.max is not None else 20
    return st.text(alphabet="abc xyz", min_size=1, max_size=longest).filter(str.strip)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_model_maps_what_is_given_and_its_defaults_to_the_exact_input(data) -> None:
    """For models of any shape: each setting given, given as null or left out; a required
    one left out is named, otherwise the input is the schema's (given values, then
    defaults) and the effective settings are the given values over the defaults."""
    model = data.draw(model_specs("any-model"))
    given_settings: dict[str, Any] = {}
    for spec in model.settings:
        if spec.name in TOP_LEVEL:
            continue
        choice = data.draw(st.sampled_from(["left out", "null", "given"]))
        if choice != "left out":
            given_settings[spec.name] = None if choice == "null" else data.draw(valid_values(spec))
    request = request_for(model, settings=given_settings)
    missing = [
        spec.name for spec in model.settings
        if spec.name not in TOP_LEVEL and spec.required and given_settings.get(spec.name) is None
    ]
    registry = ModelRegistry([model])
    if missing:
        with pytest.raises(InvalidRequest) as caught:
            registry.prepare(request)
        assert caught.value.field == f"settings.{missing[0]}"
        return
    prepared = registry.prepare(request)
    assert prepared.replicate_input == expected_input(model, request)
    defaults = {s.name: s.default for s in model.settings if s.name not in TOP_LEVEL and s.default is not None}
    assert prepared.settings == {**defaults, **{k: v for k, v in given_settings.items() if v is not None}}
    # Frozen all the way down, as a generation stores them: it takes them as they are.
    assert_frozen(prepared.replicate_input)
    assert_frozen(prepared.settings)


def assert_frozen(value: Any) -> None:
    assert not isinstance(value, (list, dict)) or type(value) is FrozenDict, value
    if isinstance(value, (tuple, FrozenDict)):
        for item in value.values() if isinstance(value, dict) else value:
            assert_frozen(item)


def models_of(registry: ModelRegistry) -> list[ModelSpec]:
    return list(registry)


def data_of(registry: ModelRegistry) -> dict[str, Any]:
    """The registry as plain data, in the file spelling, through the one converter."""
    return {"models": [converter.unstructure(model) for model in registry]}


@pytest.mark.parametrize("load", ["data", "json", "toml"])
def test_the_seed_registry_round_trips(load: str) -> None:
    data = data_of(REGISTRY)
    loaded = {
        "data": lambda: ModelRegistry.from_data(data),
        "json": lambda: ModelRegistry.from_data(parse_models_text(json.dumps(data), toml=False)),
        "toml": lambda: ModelRegistry.from_data(parse_models_text(to_toml(data), toml=True)),
    }[load]()
    assert models_of(loaded) == list(SEED_MODELS)


@settings(max_examples=150, deadline=None)
@given(registries())
def test_generated_registries_round_trip_through_json_and_toml(registry: ModelRegistry) -> None:
    data = data_of(registry)
    assert models_of(ModelRegistry.from_data(data)) == models_of(registry)
    assert models_of(ModelRegistry.from_data(parse_models_text(json.dumps(data), toml=False))) == models_of(registry)
    assert models_of(ModelRegistry.from_data(parse_models_text(to_toml(data), toml=True))) == models_of(registry)


def test_a_file_may_leave_out_what_has_a_default() -> None:
    registry = ModelRegistry.from_data({"models": [{
        "id": "only", "displayName": "Only", "replicateModel": "a/b", "action": "edit", "price": 2,
    }]})
    assert models_of(registry) == [ModelSpec(
        id="only", name="only", display_name="Only", replicate_model="a/b", action=Action.EDIT,
        runs="", description="", settings=(), price=2,
    )]
    spec = ModelRegistry.from_data({"models": [{**MINIMAL, "settings": [{"name": "seed", "type": "integer"}]}]})
    assert spec.get("m").settings == (SettingSpec("seed", "seed", SettingType.INTEGER),)


def test_limits_keep_their_integer_spelling() -> None:
    """`max: 4` stays 4 (the public JSON shows 4, not 4.0), and 2.5 stays 2.5."""
    registry = ModelRegistry.from_data({"models": [{**MINIMAL, "settings": [
        {"name": "n", "type": "integer", "min": 1, "max": 4},
        {"name": "scale", "type": "number", "min": 0.5, "max": 2.5},
    ]}]})
    n, scale = registry.get("m").settings
    assert (type(n.min), type(n.max), type(scale.max)) == (int, int, float)


# --- a bad registry names every bad path -------------------------------------------------

MINIMAL: dict[str, Any] = {
    "id": "m", "displayName": "M", "replicateModel": "a/b", "action": "create", "price": 1,
}


def problems_of(data: Any) -> tuple[str, ...]:
    with pytest.raises(InvalidRegistry) as error:
        ModelRegistry.from_data(data)
    assert str(error.value) == "; ".join(error.value.problems)
    return error.value.problems


def seed_data() -> dict[str, Any]:
    return json.loads(json.dumps(data_of(REGISTRY)))


def test_a_wrong_type_deep_inside_names_its_path() -> None:
    data = seed_data()
    data["models"][0]["settings"][2]["max"] = "4"
    assert data["models"][0]["settings"][2]["name"] == "num_outputs"
    assert problems_of(data) == ("models[0].settings.num_outputs.max: expected a number, got str",)


def test_an_unknown_key_is_refused_where_it_is() -> None:
    data = seed_data()
    data["models"][1]["colour"] = "red"
    data["models"][0]["settings"][3]["maximum"] = 4
    data["version"] = 2
    assert problems_of(data) == (
        "models[0].settings.num_inference_steps.maximum: unknown key",
        "models[1].colour: unknown key",
        "version: unknown key",
    )


def test_missing_fields_are_named_in_the_file_spelling() -> None:
    data = seed_data()
    del data["models"][2]["displayName"]
    del data["models"][3]["settings"][1]["type"]
    del data["models"][0]["settings"][1]["name"]
    assert problems_of(data) == (
        "models[0].settings[1].name: required",
        "models[2].displayName: required",
        "models[3].settings.resolution.type: required",
    )
    assert problems_of({}) == ("models: required",)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("price", "3", "expected an integer, got str"),
        ("price", True, "expected an integer, got bool"),
        ("price", 1.5, "expected an integer, got float"),
        ("id", 7, "expected a string, got int"),
        ("action", "paint", "expected one of create, edit, upscale, remove_bg, got 'paint'"),
        ("settings", "prompt", "expected a list, got str"),
        ("settings", {"name": "prompt"}, "expected a list, got dict"),
    ],
)
def test_values_are_never_coerced(key: str, value: Any, reason: str) -> None:
    assert f"models[0].{key}: {reason}" in problems_of({"models": [{**MINIMAL, key: value}]})


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ({"type": "select", "options": "abc"}, "options: expected a list, got str"),
        ({"type": "integer", "max": False}, "max: expected a number, got bool"),
        ({"type": "colour"}, "type: expected one of text, textarea, select, integer, number, boolean, image, got 'colour'"),
        ({"type": "text", "required": "yes"}, "required: expected true or false, got str"),
        ({"type": "text", "inputKey": 3}, "inputKey: expected a string, got int"),
    ],
)
def test_a_bad_setting_is_named_by_its_name(setting: dict[str, Any], problem: str) -> None:
    data = {"models": [{**MINIMAL, "settings": [{"name": "s", **setting}]}]}
    assert problems_of(data) == (f"models[0].settings.s.{problem}",)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "(top level): expected an object, got list"),
        ("models", "(top level): expected an object, got str"),
        ({"models": {}}, "models: expected a list, got dict"),
        ({"models": [3]}, "models[0]: expected an object, got int"),
        ({"models": [{**MINIMAL, "settings": [[]]}]}, "models[0].settings[0]: expected an object, got list"),
    ],
)
def test_the_wrong_shape_is_named(data: Any, problem: str) -> None:
    assert problems_of(data) == (problem,)


def test_every_problem_is_reported_at_once() -> None:
    data = seed_data()
    data["models"][0]["price"] = "1"
    data["models"][1]["settings"][2]["options"] = "jpg"
    data["models"][3]["action"] = "erase"
    assert len(problems_of(data)) == 3


def test_rules_beyond_types_name_their_path() -> None:
    select = {"name": "look", "type": "select"}
    image = {"name": "picture", "type": "image"}
    data = {"models": [
        {**MINIMAL, "price": -1},
        {**MINIMAL, "id": "two", "settings": [select, image, {"name": "a", "type": "text"}, {"name": "a", "type": "text"}]},
        {**MINIMAL},
        {**MINIMAL, "id": "three", "settings": [{"name": "seed", "type": "text"},
                                                {"name": "noise", "type": "text", "inputKey": "seed"}]},
    ]}
    assert problems_of(data) == (
        "models[0].price: must not be negative",
        "models[1].settings.a: duplicate setting name",
        "models[1].settings.look.options: a select needs options",
        "models[1].settings.picture.type: the image setting is 'input_image_url'",
        "models[2].id: duplicate model id 'm'",
        "models[3].settings.noise.inputKey: Replicate's key 'seed' is taken by setting 'seed'",
    )


def test_a_registry_built_in_code_is_checked_the_same_way() -> None:
    with pytest.raises(InvalidRegistry, match=r"models\[1\]\.id: duplicate model id 'flux-schnell'"):
        ModelRegistry([FLUX_SCHNELL, FLUX_SCHNELL])

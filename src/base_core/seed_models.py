"""The four models .base ships with, with Replicate's own input schemas.

`base_core.registry.builtin_registry()` builds the registry of them.
"""

from __future__ import annotations

from base_core.registry import Action, ModelSpec, SettingSpec, SettingType

T = SettingType

PROMPT = SettingSpec("prompt", "Prompt", T.TEXTAREA, required=True, max=4000)
IMAGE = SettingSpec("input_image_url", "Image", T.IMAGE, required=True, input_key="image")

FLUX_ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
NANO_ASPECT_RATIOS = (
    "match_input_image", "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9",
)

REAL_ESRGAN_VERSION = "f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa"
BIREFNET_VERSION = "f74986db0355b58403ed20963af156525e2891ea3c2d499bfbfb2a28cd87c5d7"

FLUX_SCHNELL = ModelSpec(
    id="flux-schnell",
    name="flux-schnell",
    display_name="FLUX Schnell",
    replicate_model="black-forest-labs/flux-schnell",
    action=Action.CREATE,
    runs="541.6m runs",
    description="Быстрая модель FLUX для локальной разработки",
    settings=(
        PROMPT,
        SettingSpec("aspect_ratio", "Aspect ratio", T.SELECT, default="1:1", options=FLUX_ASPECT_RATIOS),
        SettingSpec("num_outputs", "Number of images", T.INTEGER, default=1, min=1, max=4),
        SettingSpec("num_inference_steps", "Steps", T.INTEGER, default=4, min=1, max=4),
        SettingSpec("seed", "Seed", T.INTEGER, min=0, max=2**31 - 1),
        SettingSpec("output_format", "Format", T.SELECT, default="webp", options=("webp", "jpg", "png")),
        SettingSpec("output_quality", "Quality", T.INTEGER, default=80, min=0, max=100),
        SettingSpec("disable_safety_checker", "Disable safety checker", T.BOOLEAN, default=False),
        SettingSpec("go_fast", "Go fast", T.BOOLEAN, default=True),
        SettingSpec("megapixels", "Megapixels", T.SELECT, default="1", options=("1", "0.25")),
    ),
    price=1,
)

NANO_BANANA_EDIT = ModelSpec(
    id="nano-banana-edit",
    name="nano-banana-edit",
    display_name="Nano Banana",
    replicate_model="google/nano-banana",
    action=Action.EDIT,
    runs="64.2m runs",
    description="Редактирование изображения по текстовому описанию (Gemini 2.5 Flash Image)",
    settings=(
        PROMPT,
        SettingSpec("input_image_url", "Image", T.IMAGE, required=True, input_key="image_input", as_list=True),
        SettingSpec(
            "aspect_ratio", "Aspect ratio", T.SELECT, default="match_input_image", options=NANO_ASPECT_RATIOS
        ),
        SettingSpec("output_format", "Format", T.SELECT, default="jpg", options=("jpg", "png")),
    ),
    price=4,
)

REAL_ESRGAN = ModelSpec(
    id="real-esrgan",
    name="real-esrgan",
    display_name="Real-ESRGAN",
    replicate_model=f"nightmareai/real-esrgan:{REAL_ESRGAN_VERSION}",
    action=Action.UPSCALE,
    runs="79.4m runs",
    description="Увеличение разрешения изображения с улучшением лиц",
    settings=(
        IMAGE,
        SettingSpec("scale", "Scale", T.NUMBER, default=4, min=0, max=10),
        SettingSpec("face_enhance", "Face enhance", T.BOOLEAN, default=False),
    ),
    price=2,
)

BIREFNET = ModelSpec(
    id="birefnet",
    name="birefnet",
    display_name="BiRefNet",
    replicate_model=f"men1scus/birefnet:{BIREFNET_VERSION}",
    action=Action.REMOVE_BG,
    runs="7.1m runs",
    description="Удаление фона с изображения",
    settings=(
        IMAGE,
        SettingSpec("resolution", "Resolution", T.TEXT, max=32),
    ),
    price=1,
)

SEED_MODELS = (FLUX_SCHNELL, NANO_BANANA_EDIT, REAL_ESRGAN, BIREFNET)

__all__ = ["BIREFNET", "FLUX_SCHNELL", "NANO_BANANA_EDIT", "REAL_ESRGAN", "SEED_MODELS"]

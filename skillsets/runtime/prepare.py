"""Natural inputs -> model tensors, one builder per modality, driven by the config.

Builders read sizes and special token ids from the model's config (image size, mel bins,
sampling rate, image/audio placeholder tokens...) rather than from per-model code. Multimodal
language models get exactly as many placeholder tokens as their own vision or audio tower
produces features: the tower is run once on the prepared pixels to count them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.names import UnknownNameError
from skillsets.catalog import CatalogEntry
from skillsets.runtime.config_keys import PLACEHOLDER_KEYS, find_config_value
from skillsets.runtime.errors import SkillUnavailableError
from skillsets.runtime.inputs import image_shape, sampling_rate
from skillsets.runtime.processors import Preprocessors, missing_image_processor, vision_config

#: Config keys of tokens that open / close a modality's span of placeholders.
SPAN_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "image": (("vision_start_token_id", "image_start_token_id", "boi_token_id", "boi_token_index",
               "image_bos_token_id"),
              ("vision_end_token_id", "image_end_token_id", "eoi_token_id", "eoi_token_index")),
    "audio": (("audio_start_token_id", "audio_bos_token_id", "boa_token_id", "boa_token_index"),
              ("audio_end_token_id", "audio_eos_token_id", "eoa_token_id", "eoa_token_index")),
    "video": (("video_start_token_id",), ("video_end_token_id",)),
}


@dataclass
class PrepareContext:
    """What input builders read about the skill they prepare for."""

    entry: CatalogEntry
    model: Any
    config: Any
    pre: Preprocessors
    #: Keep every tensor the builders produce: a model's own generate() (not transformers'
    #: generic one) may read inputs its forward does not name (a codec's raw audio).
    keep_all: bool = False

    @property
    def params(self) -> frozenset[str]:
        """Names the model's forward accepts."""
        return forward_params(self.model)


def forward_params(model: Any) -> frozenset[str]:
    """Explicit parameter names of `model.forward`."""
    sig = inspect.signature(model.forward)
    return frozenset(n for n, p in sig.parameters.items()
                     if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))


def required_params(model: Any) -> list[str]:
    """Parameters of `model.forward` without a default."""
    sig = inspect.signature(model.forward)
    return [n for n, p in sig.parameters.items()
            if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def text_vocab_size(config: Any) -> int | None:
    """Vocabulary size of the model's text embedding."""
    return find_config_value(config, ("vocab_size",))


def _reserved_ids(config: Any) -> set[int]:
    """Every special token id in the config tree except pad/bos/eos/unk."""
    reserved: set[int] = set()

    def walk(cfg: Any) -> None:
        values = cfg.to_dict() if hasattr(cfg, "to_dict") else cfg
        for key, value in values.items():
            if not isinstance(key, str):
                continue
            if isinstance(value, dict):
                walk(value)
            elif (key.endswith(("token_id", "token_index")) and isinstance(value, int)
                  and key not in ("pad_token_id", "bos_token_id", "eos_token_id", "unk_token_id")):
                reserved.add(value)

    walk(config)
    return reserved


def tokenize(ctx: PrepareContext, texts: list[str], *, left_pad: bool = False) -> dict[str, Any]:
    """Token ids and attention mask for a batch of texts, padded."""
    import torch

    tok = ctx.pre.tokenizer
    if tok is None:
        raise SkillUnavailableError(f"{ctx.entry.model_type}: no tokenizer for text inputs")
    tok.padding_side = "left" if left_pad else "right"
    causal = ctx.entry.task in ("text-generation",) or left_pad
    limit = getattr(tok, "model_max_length", None)
    fixed = fixed_text_length(ctx.model)
    # The byte-level stand-in knows no length limit; a text tower with absolute positions
    # (OWL-ViT's 16) reads at most its position table.
    window = find_config_value(ctx.config, ("max_position_embeddings",)) if (
        ctx.pre.synthetic) else None
    if fixed is not None:
        padding: dict[str, Any] = {"padding": "max_length", "max_length": fixed, "truncation": True}
    elif isinstance(window, int) and 0 < window < 1_000_000:
        padding = {"padding": True, "truncation": True, "max_length": window}
    elif isinstance(limit, int) and limit < 1_000_000:
        padding = {"padding": True, "truncation": True}
    else:
        padding = {"padding": True}
    enc = tok(list(texts), return_tensors="pt",
              add_special_tokens=not (causal and ctx.pre.synthetic), **padding)
    out = {k: v for k, v in enc.items() if isinstance(v, torch.Tensor)}
    if ctx.pre.synthetic:
        out["input_ids"] = safe_ids(ctx.config, out["input_ids"])
    return out


def fixed_text_length(model: Any) -> int | None:
    """The exact prompt length a model's generate() needs, when it has one (Bark reads its
    text as `max_input_semantic_length` tokens, padded, as its processor pads them)."""
    semantic = getattr(getattr(model, "generation_config", None), "semantic_config", None)
    if isinstance(semantic, dict) and isinstance(semantic.get("max_input_semantic_length"), int):
        return semantic["max_input_semantic_length"]
    return None


def safe_ids(config: Any, ids: Any) -> Any:
    """Byte-level ids moved inside the model's vocabulary and off its special tokens."""
    vocab = text_vocab_size(config) or 256
    ids = ids % vocab
    reserved = _reserved_ids(config)
    if reserved:
        filler = next(i for i in range(3, vocab) if i not in reserved)
        for token in reserved:
            ids[ids == token] = filler
    return ids


def _to_pil(image: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(np.asarray(image, dtype=np.uint8))


def _whole_image_box(image: np.ndarray) -> list[list[float]]:
    """One COCO box (x, y, width, height) over the whole image: a pre-cropped subject."""
    height, width = image.shape[:2]
    return [[0.0, 0.0, float(width), float(height)]]


def _trimap(image: np.ndarray) -> np.ndarray:
    """A matting trimap: background border, unknown ring, foreground centre (0 / 128 / 255)."""
    height, width = image.shape[:2]
    trimap = np.zeros((height, width), dtype=np.uint8)
    trimap[height // 8: height - height // 8, width // 8: width - width // 8] = 128
    trimap[height // 4: height - height // 4, width // 4: width - width // 4] = 255
    return trimap


#: Per-image inputs some image processors require next to the images, built from each image.
IMAGE_COMPANIONS: dict[str, Callable[[np.ndarray], Any]] = {
    "boxes": _whole_image_box,  # top-down pose estimators read one box per person
    "trimaps": _trimap,  # matting models read a trimap per image
}


def _companions(proc: Any, images: list[np.ndarray]) -> dict[str, Any]:
    """The companions (`IMAGE_COMPANIONS`) that `proc.preprocess` requires, one per image."""
    preprocess = getattr(proc, "preprocess", None)
    if not callable(preprocess):
        return {}
    params = inspect.signature(preprocess).parameters.values()
    required = [p.name for p in params if p.default is p.empty and p.name != "images"
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    return {name: [IMAGE_COMPANIONS[name](i) for i in images]
            for name in required if name in IMAGE_COMPANIONS}


def pixel_inputs(ctx: PrepareContext, images: list[np.ndarray]) -> dict[str, Any]:
    """`pixel_values` (and whatever else the image processor adds) for a batch of images."""
    import torch

    proc = ctx.pre.image_processor
    if proc is not None:
        # A vision tower (no prompt) reads one whole image per row: no crops of it.
        tower = ctx.entry.modality == "image" and "input_ids" not in ctx.params
        kwargs = {"do_image_splitting": False} if tower and getattr(
            proc, "do_image_splitting", False) else {}
        out = proc(images=[_to_pil(i) for i in images], return_tensors="pt", **kwargs,
                   **_companions(proc, images))
        if isinstance(out, torch.Tensor):  # processors that return the pixels alone (IDEFICS)
            out = {"pixel_values": out}
        out = {k: v for k, v in out.items() if v is not None}
        pixels = out.get("pixel_values")
        if tower and isinstance(pixels, torch.Tensor) and pixels.ndim == 5:
            # Multi-image processors (batch, images, ...) read a flat list as one sample's
            # images: each image is its own sample, one row each.
            rows = [proc(images=[_to_pil(i)], return_tensors="pt", **kwargs,
                         **_companions(proc, [i]))["pixel_values"] for i in images]
            if all(r.shape[:2] == (1, 1) for r in rows):
                return {"pixel_values": torch.cat([r[:, 0] for r in rows])}
        return out
    vcfg = vision_config(ctx.config)
    h, w = image_shape(ctx.config)
    channels = int(getattr(vcfg, "num_channels", None) or 3)
    arrays = [np.asarray(_to_pil(i).resize((w, h)), dtype=np.float32) / 255.0 for i in images]
    pixels = torch.as_tensor(np.stack(arrays)).permute(0, 3, 1, 2)
    pixels = (pixels - 0.5) / 0.5
    if channels != 3:
        pixels = pixels.mean(dim=1, keepdim=True).repeat(1, channels, 1, 1)
    return {"pixel_values": pixels}


def video_inputs(ctx: PrepareContext, videos: list[np.ndarray]) -> dict[str, Any]:
    """`pixel_values` of shape (batch, frames, channels, height, width)."""
    import torch

    clips = [torch.as_tensor(pixel_inputs(ctx, list(v))["pixel_values"]) for v in videos]
    # Video processors return (1, frames, ...) per clip, image processors (frames, ...).
    clips = [c[0] if c.ndim == 5 and c.shape[0] == 1 else c for c in clips]
    pixels = torch.stack(clips)
    key = "pixel_values_videos" if "pixel_values_videos" in ctx.params else "pixel_values"
    return {key: pixels}


def log_mel(wave: np.ndarray, rate: int, n_mels: int, frames: int | None = None) -> np.ndarray:
    """Log-mel spectrogram (n_mels, frames) with a 25 ms window and 10 ms hop."""
    from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

    n_fft = int(0.025 * rate)
    filters = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels,
                              min_frequency=0.0, max_frequency=rate / 2, sampling_rate=rate)
    spec = spectrogram(wave, window_function(n_fft, "hann"), frame_length=n_fft,
                       hop_length=int(0.010 * rate), power=2.0, mel_filters=filters,
                       log_mel="log10")
    if frames is not None:
        spec = np.pad(spec, ((0, 0), (0, max(0, frames - spec.shape[1]))))[:, :frames]
    return spec.astype(np.float32)


def audio_inputs(ctx: PrepareContext, waves: list[np.ndarray]) -> dict[str, Any]:
    """`input_features` or `input_values` (and attention mask) for a batch of waveforms."""
    import torch

    rate = sampling_rate(ctx.config, ctx.pre.feature_extractor)
    fe = ctx.pre.feature_extractor
    if fe is not None:
        # Extractors pad as their model needs (Whisper to 30 s); pad further only for ragged input.
        ragged = len({len(w) for w in waves}) > 1
        kwargs: dict[str, Any] = {"padding": True} if ragged else {}
        if frame_mask_names(ctx):  # which of the padded frames are real, as processors ask
            kwargs["return_attention_mask"] = True
        if "generator" in inspect.signature(fe.__call__).parameters:
            # Extractors that draw noise for the model (UnivNet) draw it seeded, like all inputs.
            kwargs["generator"] = np.random.default_rng(0)
        out = fe(list(waves), sampling_rate=rate, return_tensors="pt", **kwargs)
        return {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}
    params = ctx.params
    mel = _audio_attr(ctx.config, "num_mel_bins")
    if "input_features" in params and isinstance(mel, int):
        frames = _audio_attr(ctx.config, "max_source_positions")
        frames = 2 * frames if isinstance(frames, int) else None
        feats = np.stack([log_mel(w, rate, mel, frames) for w in waves])
        return {"input_features": torch.as_tensor(feats)}
    stacked = np.stack(waves)
    normed = (stacked - stacked.mean(axis=1, keepdims=True)) / (stacked.std(axis=1, keepdims=True)
                                                                + 1e-7)
    key = "input_values" if "input_values" in params or "input_features" not in params else (
        "input_features")
    return {key: torch.as_tensor(normed.astype(np.float32))}


def _audio_attr(config: Any, name: str) -> Any:
    subs = (getattr(config, "audio_config", None), getattr(config, "encoder_config", None))
    for cfg in (config, *subs):
        value = getattr(cfg, name, None) if cfg is not None else None
        if value is not None:
            return value
    return None


def _feature_counts(features: Any, n: int) -> list[int]:
    """Placeholder tokens per sample for the features a tower returned."""
    import torch

    deepstack = getattr(features, "deepstack_features", None)
    if hasattr(features, "pooler_output") and features.pooler_output is not None:
        features = features.pooler_output
    elif getattr(features, "last_hidden_state", None) is None and deepstack:
        # Towers that only feed decoder layers (Granite 4 Vision) return (layer, per-image
        # features) pairs; the first layer's features fill the placeholders.
        features = deepstack[0][1]
    elif hasattr(features, "last_hidden_state"):
        features = features.last_hidden_state
    if isinstance(features, list | tuple):
        tensors = [f for f in features if isinstance(f, torch.Tensor)]
        if len(tensors) == n:
            return [t.numel() // t.shape[-1] for t in tensors]
        total = sum(t.numel() // t.shape[-1] for t in tensors)
        return [total // n] * n
    if isinstance(features, torch.Tensor):
        if features.ndim == 3 and features.shape[0] == n:
            return [features.shape[1]] * n
        return [features.numel() // features.shape[-1] // n] * n
    raise SkillUnavailableError(f"cannot count features in a {type(features).__name__}")


def _tower(model: Any, modality: str) -> Callable[..., Any] | None:
    name = f"get_{modality}_features"
    # The inner model's method has the real signature; wrappers often take (*args, **kwargs).
    # Retrievers wrap a whole VLM as `vlm` (ColPali).
    for owner in (getattr(model, "model", None), getattr(model, "vlm", None), model):
        fn = getattr(owner, name, None) if owner is not None else None
        if callable(fn):
            return fn
    return None


def _length_rule(model: Any, modality: str) -> Callable[..., Any] | None:
    """The tower's own rule from input frames to output tokens (`_get_feat_extract_output_lengths`
    of Whisper-style audio towers)."""
    for owner in (getattr(model, "model", None), model):
        tower = getattr(owner, f"{modality}_tower", None) if owner is not None else None
        fn = getattr(tower, "_get_feat_extract_output_lengths", None)
        if callable(fn):
            return fn
    return None


def _has_tower(model: Any, modality: str) -> bool:
    """Whether the model can say how many placeholders its `modality` features fill."""
    return _tower(model, modality) is not None or _length_rule(model, modality) is not None


def _rule_counts(ctx: PrepareContext, rule: Callable[..., Any], features: dict[str, Any]
                 ) -> list[int]:
    """Placeholder tokens per sample: the tower's length rule applied to its real frames."""
    import torch

    mask = next((features[k] for k in FRAME_MASKS if k in features), None)
    if not isinstance(mask, torch.Tensor):
        raise SkillUnavailableError(
            f"{ctx.entry.model_type}: its audio placeholder count needs a per-frame mask "
            f"({' or '.join(FRAME_MASKS)}), which the model does not read"
        )
    lengths = rule(mask.sum(-1).to(torch.long))
    # Whisper-style rules return (after the convolutions, after the pooling): the last counts.
    if isinstance(lengths, tuple):
        lengths = lengths[-1]
    return [int(n) for n in lengths.tolist()]


#: The main tensor of each modality, under the names processors give it.
_MAIN_INPUTS = ("pixel_values", "image_patches", "flattened_patches", "input_features",
                "input_values")


def _call_with_accepted(fn: Callable[..., Any], inputs: dict[str, Any]) -> Any:
    """Call a tower with the inputs it names; its first required parameter gets the modality's
    main tensor when the processor named that differently (`image_patches` for `pixel_values`)."""
    sig = inspect.signature(fn)
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    names = set(sig.parameters)
    kwargs = {k: v for k, v in inputs.items() if k in names or (
        accepts_any and k in _TOWER_EXTRAS)}
    required = [n for n, p in sig.parameters.items() if p.default is p.empty
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    main = next((inputs[k] for k in _MAIN_INPUTS if k in inputs), None)
    if required and required[0] not in kwargs and main is not None:
        kwargs[required[0]] = main
    return fn(**kwargs)


def _unmet_inputs(fn: Callable[..., Any], inputs: dict[str, Any], *, generic: bool) -> list[str]:
    """Inputs a tower needs that `inputs` lack: its required parameters after the first (which
    `_call_with_accepted` fills with the main tensor) and, for generically resized pixels (no
    image processor), the patch grids it reads (`image_grid_thw`), which only processors make."""
    params = inspect.signature(fn).parameters
    named = [n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    required = [n for n in named if params[n].default is params[n].empty]
    needed = required[1:] + [n for n in named if generic and "grid" in n and n not in required]
    return [n for n in needed if n not in inputs]


#: Inputs a tower takes through **kwargs in some models (grids, sizes, masks).
_TOWER_EXTRAS = frozenset({
    "image_grid_thw", "image_sizes", "pixel_attention_mask", "spatial_shapes",
    "image_attention_mask",
    "feature_attention_mask", "input_features_mask", "audio_feature_lengths", "pixel_mask",
    "image_position_ids", "aspect_ratio_ids", "aspect_ratio_mask", "input_features_lengths",
})


def placeholder_prompt(
    ctx: PrepareContext, modality: str, features: dict[str, Any], texts: list[str]
) -> dict[str, Any]:
    """input_ids holding, per sample, the placeholder tokens for its features, then its text.

    The count comes from running the model's own `get_<modality>_features` on the prepared
    features, so it matches whatever pooling, merging or splitting the tower does.
    """
    import torch

    token = slot_token(ctx, modality)
    tower = _tower(ctx.model, modality)
    rule = _length_rule(ctx.model, modality)
    generic = ctx.pre.image_processor is None
    if tower is not None and rule is not None and "input_ids" in _unmet_inputs(
            tower, features, generic=generic):
        # A tower that reads the placeholders themselves (MusicFlamingo's time embedding) cannot
        # count them; its length rule can.
        tower = None
    if token is None or (tower is None and rule is None):
        raise SkillUnavailableError(
            f"{ctx.entry.model_type}: no {modality} placeholder token id or "
            f"get_{modality}_features in this model; its prompt format needs the checkpoint's "
            "processor files"
        )
    unmet = _unmet_inputs(tower, features, generic=generic) if tower is not None else []
    if modality == "image" and unmet:
        raise SkillUnavailableError(
            f"{ctx.entry.model_type}: its image tower needs {', '.join(unmet)}, which only its "
            f"own image processor produces; {missing_image_processor(ctx.entry.model_type)}"
        )
    try:
        # A tower that samples (VibeVoice's VAE latents) must not move the random state the
        # model's own run then starts from: preparing the same input twice gives the same run.
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):
            counts = (_feature_counts(_call_with_accepted(tower, features), len(texts))
                      if tower is not None else _rule_counts(ctx, rule, features))
    except (RuntimeError, TypeError, ValueError) as exc:
        if modality != "image" or ctx.pre.image_processor is not None:
            raise
        # Generically resized pixels are a guess at what the type's own processor makes.
        raise SkillUnavailableError(
            f"{ctx.entry.model_type}: its image tower rejects generically resized pixels "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); "
            f"{missing_image_processor(ctx.entry.model_type)}"
        ) from exc
    opens, closes = SPAN_KEYS[modality]
    start, end = find_config_value(ctx.config, opens), find_config_value(ctx.config, closes)
    bos = find_config_value(ctx.config, ("bos_token_id",))
    text_ids = tokenize(ctx, texts)["input_ids"].tolist()
    rows, slots = [], []
    for count, ids in zip(counts, text_ids, strict=True):
        ids = [i for i in ids if i != ctx.pre.tokenizer.pad_token_id]
        head = ([bos] if bos is not None else []) + ([start] if start is not None else [])
        tail = ([end] if end is not None else []) + ids
        rows.append(head + [token] * count + tail)
        slots.append([0] * len(head) + [1] * count + [0] * len(tail))
    width = max(len(r) for r in rows)
    pad = find_config_value(ctx.config, ("pad_token_id",)) or 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):  # left padding: generation continues every row at the end
        input_ids[i, width - len(row):] = torch.tensor(row)
        mask[i, width - len(row):] = 1
        positions[i, width - len(row):] = torch.tensor(slots[i])
    out = {"input_ids": input_ids, "attention_mask": mask}
    if find_config_value(ctx.config, PLACEHOLDER_KEYS[modality]) is None:
        out[POSITION_MASKS[modality]] = positions.bool()
    if "mm_token_type_ids" in ctx.params:
        # What processors return beside input_ids for M-RoPE: 1 on image, 3 on audio tokens.
        code = _MM_TOKEN_TYPES[modality]
        out["mm_token_type_ids"] = torch.where(input_ids == token, code, 0)
    return out


#: Modality codes of `mm_token_type_ids` (transformers' `create_mm_token_type_ids`).
_MM_TOKEN_TYPES = {"image": 1, "video": 2, "audio": 3}
#: Masks by which a model with no placeholder token id is told where its features go (Kosmos-2).
POSITION_MASKS = {"image": "image_embeds_position_mask"}


def slot_token(ctx: PrepareContext, modality: str) -> int | None:
    """The token a modality's features replace in the prompt: the config's placeholder id, or,
    for a model told the positions by a mask (`POSITION_MASKS`), an ordinary id that its
    processor writes there (the first after the special tokens)."""
    token = find_config_value(ctx.config, PLACEHOLDER_KEYS[modality])
    if token is not None or POSITION_MASKS.get(modality) not in ctx.params:
        return token
    vocab = text_vocab_size(ctx.config) or 256
    reserved = _reserved_ids(ctx.config) | {
        find_config_value(ctx.config, (f"{k}_token_id",)) for k in ("pad", "bos", "eos", "unk")}
    return next(i for i in range(4, vocab) if i not in reserved)


#: Config keys of the tokens around a chat turn: a speech generator whose generate() finds the
#: user's and the assistant's parts of the prompt by them (Qwen3-Omni's talker) reads a prompt
#: as its chat template writes it.
CHAT_TURN_KEYS = ("im_start_token_id", "user_token_id", "im_end_token_id", "assistant_token_id")


def _chat_turn(ctx: PrepareContext, out: dict[str, Any], start: int, user: int, end: int,
               assistant: int) -> dict[str, Any]:
    """Each text as one user turn, then the assistant's turn opened: `<start>user text<end>
    <start>assistant`, left-padded."""
    import torch

    rows = [[start, user] + ids[mask.bool()].tolist() + [end, start, assistant]
            for ids, mask in zip(out["input_ids"], out["attention_mask"], strict=True)]
    width = max(len(r) for r in rows)
    pad = find_config_value(ctx.config, ("pad_token_id",)) or 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row):] = torch.tensor(row)
        mask[i, width - len(row):] = 1
    return {**out, "input_ids": input_ids, "attention_mask": mask}


def prepare_text(ctx: PrepareContext, texts: list[str]) -> dict[str, Any]:
    """Text models; encoder-decoders also get a start token for their decoder."""
    import torch

    audio_bos = find_config_value(ctx.config, ("audio_bos_token_id",))
    speaks = ctx.entry.task == "text-to-audio" and audio_bos is not None
    # Text-only LMs that transformers lists as image-text-to-text models generate like any LM.
    lm = ctx.entry.task in ("text-generation", "image-to-text", "image-text-to-text")
    out = tokenize(ctx, texts, left_pad=lm or speaks)
    turn = [find_config_value(ctx.config, (key,)) for key in CHAT_TURN_KEYS]
    if ctx.entry.task == "text-to-audio" and None not in turn:
        out = _chat_turn(ctx, out, *turn)
    if speaks:
        # Speech generators continue the prompt from an audio-start token at its end.
        column = torch.full((len(texts), 1), audio_bos, dtype=torch.long)
        out["input_ids"] = torch.cat([out["input_ids"], column], dim=1)
        out["attention_mask"] = torch.cat([out["attention_mask"], torch.ones_like(column)], dim=1)
    if (ctx.entry.task not in ("text2text-generation", "text-generation", "text-to-audio")
            and "decoder_input_ids" in ctx.params
            and getattr(ctx.config, "is_encoder_decoder", False)):
        start = find_config_value(ctx.config, ("decoder_start_token_id", "pad_token_id")) or 0
        out["decoder_input_ids"] = torch.full((len(texts), 1), start, dtype=torch.long)
    return out


def _cross_attended(ctx: PrepareContext, out: dict[str, Any]) -> dict[str, Any]:
    """Cross-attention VLMs (IDEFICS) read pixels as (batch, images, channels, height, width)
    and an `image_attention_mask` (batch, text, images): as their processors build it for an
    image placed before the text, every real text token attends to that one image."""
    import torch

    pixels, mask = out.get("pixel_values"), out.get("attention_mask")
    if ("image_attention_mask" not in ctx.params or "image_attention_mask" in out
            or not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or mask is None):
        return out
    return {**out, "pixel_values": pixels.unsqueeze(1), "image_attention_mask": mask[..., None]}


def _tile_cross_attention(ctx: PrepareContext, out: dict[str, Any], texts: list[str]
                          ) -> dict[str, Any]:
    """The prompt of a cross-attention VLM over image tiles (Mllama), as its processor builds
    it: one placeholder per image before the text's start token (`<|image|><|begin_of_text|>`),
    left-padded, and a `cross_attention_mask` (batch, text, images, tiles) by which every token
    from the placeholder on attends to that image's real tiles."""
    import torch

    pixels, ratio_mask = out.get("pixel_values"), out.get("aspect_ratio_mask")
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 6 or not isinstance(
            ratio_mask, torch.Tensor):
        raise SkillUnavailableError(
            f"{ctx.entry.model_type}: its cross-attention mask needs tiled pixels (batch, "
            "images, tiles, ...) and an aspect_ratio_mask, which only its image processor makes")
    token, images = slot_token(ctx, "image"), pixels.shape[1]
    bos = find_config_value(ctx.config, ("bos_token_id",))
    pad_id = ctx.pre.tokenizer.pad_token_id
    rows = [[token] * images + ([bos] if bos is not None else []) + [i for i in ids if i != pad_id]
            for ids in tokenize(ctx, texts)["input_ids"].tolist()]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), find_config_value(
        ctx.config, ("pad_token_id",)) or 0, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    cross = torch.zeros((len(rows), width, images, ratio_mask.shape[-1]), dtype=torch.long)
    for i, row in enumerate(rows):
        start = width - len(row)
        input_ids[i, start:] = torch.tensor(row)
        mask[i, start:] = 1
        for image in range(images):  # image j's placeholder is the j-th token of the row
            cross[i, start + image:, image] = ratio_mask[i, image]
    return {"input_ids": input_ids, "attention_mask": mask, "cross_attention_mask": cross}


def prepare_image(ctx: PrepareContext, images: list[np.ndarray]) -> dict[str, Any]:
    """Vision models; image-to-text models that need a prompt get one with placeholders."""
    out = pixel_inputs(ctx, images)
    slot = slot_token(ctx, "image")
    needs_prompt = "input_ids" in required_params(ctx.model) or (
        ctx.entry.task == "image-to-text" and slot is not None)
    page = ocr_text(ctx, out)  # document models read the words OCR found on the page (UDOP)
    if page:
        out.update(page)
    elif needs_prompt or "image_attention_mask" in ctx.params:
        out.update(placeholder_prompt(ctx, "image", out, [""] * len(images))
                   if slot is not None else tokenize(ctx, ["a picture of"] * len(images)))
    return _cross_attended(ctx, out)


def prepare_image_text(ctx: PrepareContext, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Dual encoders get texts and images side by side; generative VLMs get placeholders."""
    images = [it["image"] for it in items]
    texts = [it["text"] for it in items]
    out = pixel_inputs(ctx, images)
    pixels = out.get("pixel_values")
    if (ctx.pre.image_processor is not None and len(images) > 1
            and getattr(pixels, "ndim", 0) in (5, 6) and pixels.shape[0] == 1):
        # Multi-image processors (Idefics; Mllama's, with tiles) read a flat list as one
        # sample's images.
        nested = ctx.pre.image_processor(images=[[_to_pil(i)] for i in images],
                                         return_tensors="pt")
        out = {k: v for k, v in nested.items() if v is not None}
    if "qformer_input_ids" in ctx.params:
        out.update(_qformer_text(ctx, texts))
    generative = ctx.entry.task in ("image-text-to-text", "multimodal-lm", "image-to-text")
    # Retrievers built on a VLM (ColPali) read images through placeholders too.
    placeholders = generative or _tower(ctx.model, "image") is not None
    if placeholders and "cross_attention_mask" in ctx.params and _tower(
            ctx.model, "image") is None and slot_token(ctx, "image") is not None:
        out.update(_tile_cross_attention(ctx, out, texts))
    elif placeholders and slot_token(ctx, "image") is not None:
        out.update(placeholder_prompt(ctx, "image", out, texts))
    else:
        out.update(tokenize(ctx, texts))
    if ctx.entry.model_type in PATCH_ROWS_PER_IMAGE:
        out["pixel_values"] = _patch_rows(out["pixel_values"], out["image_grid_thw"])
    return out


#: Types whose processor pads each image's flattened patches into a row of its own, (images,
#: most patches, patch width), which the model unpads with `image_grid_thw` (ColQwen2Processor).
PATCH_ROWS_PER_IMAGE = frozenset({"colqwen2"})


def _patch_rows(pixels: Any, grid_thw: Any) -> Any:
    """Flattened patches of all images (patches, width) -> one zero-padded row per image."""
    import torch

    rows = list(torch.split(pixels, grid_thw.prod(dim=-1).tolist()))
    longest = max(r.shape[0] for r in rows)
    return torch.stack([torch.nn.functional.pad(r, (0, 0, 0, longest - r.shape[0]))
                        for r in rows])


#: Names audio models give the per-frame mask of their features (extractors: `attention_mask`).
FRAME_MASKS = ("feature_attention_mask", "input_features_mask")


def frame_mask_names(ctx: PrepareContext) -> list[str]:
    """The frame-mask names the model's forward or its audio tower reads."""
    names = set(ctx.params)
    tower = _tower(ctx.model, "audio")
    if tower is not None:
        names |= set(inspect.signature(tower).parameters)
    return [n for n in FRAME_MASKS if n in names]


def _qformer_text(ctx: PrepareContext, texts: list[str]) -> dict[str, Any]:
    """The instruction as the Q-Former reads it (InstructBLIP): its own token ids and mask,
    inside the Q-Former's vocabulary."""
    enc = tokenize(ctx, texts)
    qformer = getattr(ctx.config, "qformer_config", None)
    vocab = getattr(qformer, "vocab_size", None)
    ids = enc["input_ids"] % vocab if isinstance(vocab, int) and vocab > 0 else enc["input_ids"]
    return {"qformer_input_ids": ids, "qformer_attention_mask": enc["attention_mask"]}


def _frame_mask(ctx: PrepareContext, out: dict[str, Any]) -> None:
    """Audio LMs read a per-frame mask of their features under their own name; the extractor's
    `attention_mask` is that mask (all frames are real when there is no extractor)."""
    import torch

    features = out.get("input_features")
    names = [n for n in frame_mask_names(ctx) if n not in out]
    if not names or not isinstance(features, torch.Tensor):
        return
    mask = out.pop("attention_mask", None)
    if mask is None:
        mask = torch.ones(features.shape[0], features.shape[-1], dtype=torch.long)
    factor = _audio_attr(ctx.config, "subsampling_factor")
    extra = -mask.shape[-1] % factor if isinstance(factor, int) and factor > 1 else 0
    axis = next((a for a in (-1, 1) if features.shape[a] == mask.shape[-1]), None)
    if extra and axis is not None:
        # Encoders that stack `subsampling_factor` frames read whole stacks: their processors
        # pad the features on the right, as masked (padding) frames.
        pad = [0, 0] * (features.ndim - axis % features.ndim - 1) + [0, extra]
        out["input_features"] = torch.nn.functional.pad(features, pad)
        mask = torch.nn.functional.pad(mask, (0, extra))
    for name in names:
        out[name] = mask


def prepare_audio(ctx: PrepareContext, waves: list[np.ndarray]) -> dict[str, Any]:
    """Audio models; audio language models get placeholders for their audio features."""
    out = audio_inputs(ctx, waves)
    _frame_mask(ctx, out)
    if find_config_value(ctx.config, PLACEHOLDER_KEYS["audio"]) is not None and (
        _has_tower(ctx.model, "audio")):
        out.update(placeholder_prompt(ctx, "audio", out, ["Transcribe:"] * len(waves)))
    return out


def prepare_audio_text(ctx: PrepareContext, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Audio plus text: placeholders for audio LMs, side by side for dual encoders (CLAP)."""
    waves = [it["audio"] for it in items]
    texts = [it["text"] for it in items]
    out = audio_inputs(ctx, waves)
    _frame_mask(ctx, out)
    if find_config_value(ctx.config, PLACEHOLDER_KEYS["audio"]) is not None and (
        _has_tower(ctx.model, "audio")):
        out.update(placeholder_prompt(ctx, "audio", out, texts))
    else:
        out.update(tokenize(ctx, texts))
    return out


def prepare_image_pair(
    ctx: PrepareContext, pairs: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, Any]:
    """Keypoint matchers read (batch, 2, channels, height, width)."""
    import torch

    proc = ctx.pre.image_processor
    if proc is not None:
        out = proc(images=[[_to_pil(a), _to_pil(b)] for a, b in pairs], return_tensors="pt")
        return {k: v for k, v in out.items() if v is not None}
    flat = pixel_inputs(ctx, [img for pair in pairs for img in pair])["pixel_values"]
    return {"pixel_values": torch.as_tensor(flat).reshape(len(pairs), 2, *flat.shape[1:])}


def prepare_video(ctx: PrepareContext, videos: list[np.ndarray]) -> dict[str, Any]:
    """Video classifiers and video segmenters; video language models (InstructBLIP-Video) get a
    prompt with placeholders for their clip features (and the Q-Former its instruction)."""
    out = video_inputs(ctx, videos)
    generative = ctx.entry.task in ("image-to-text", "image-text-to-text", "multimodal-lm")
    if not generative or slot_token(ctx, "video") is None:
        return out
    if "qformer_input_ids" in ctx.params:
        out.update(_qformer_text(ctx, [""] * len(videos)))
    out.update(placeholder_prompt(ctx, "video", out, [""] * len(videos)))
    return out


def prepare_video_text(ctx: PrepareContext, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Video-text dual encoders (X-CLIP, VideoPrism): clips and texts side by side."""
    out = video_inputs(ctx, [it["video"] for it in items])
    out.update(tokenize(ctx, [it["text"] for it in items]))
    return out


def prepare_time_series(ctx: PrepareContext, series: list[np.ndarray]) -> dict[str, Any]:
    """Forecasters (see `skillsets.runtime.series`)."""
    from skillsets.runtime.series import series_tensors

    return series_tensors(ctx.config, series, ctx.params)


def prepare_trajectory(ctx: PrepareContext, items: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    """Decision transformers: states, actions, returns-to-go, timesteps and a mask."""
    import torch

    stack = {k: torch.as_tensor(np.stack([it[k] for it in items])) for k in items[0]}
    batch, steps = stack["states"].shape[:2]
    stack["rewards"] = torch.zeros(batch, steps, 1)
    stack["timesteps"] = torch.arange(steps)[None].repeat(batch, 1)
    stack["attention_mask"] = torch.ones(batch, steps, dtype=torch.long)
    return stack


def component_features(ctx: PrepareContext, name: str, batch: int) -> Any:
    """Features for a component model that reads another model's output (a Q-Former's query
    embeddings, a decoder's encoder states, a codec decoder's latents): seeded, shaped by the
    config's sizes."""
    import torch

    hidden = find_config_value(ctx.config, ("encoder_hidden_size", "hidden_size", "d_model"))
    if name.startswith("query"):
        hidden = find_config_value(ctx.config, ("hidden_size", "d_model"))
    length = find_config_value(ctx.config, ("num_query_tokens",)) or 8
    if hidden is None:
        raise SkillUnavailableError(f"{ctx.entry.model_type}: cannot size the {name} it reads")
    generator = torch.Generator().manual_seed(0)
    if name == "latents":
        # Codec decoders read their encoder's latents channel-first: (batch, hidden, frames).
        return torch.randn(batch, hidden, length, generator=generator)
    return torch.randn(batch, length, hidden, generator=generator)


#: Words per line of the synthetic page layout that token boxes are laid out on.
_WORDS_PER_LINE = 8
#: Detected regions per image, as a 2 x 4 grid, for models that read region features.
_REGION_GRID = (2, 4)
#: Residues of the protein sequence that protein-text models read beside the question.
_PROTEIN_LENGTH = 16


def _grid_boxes(rows: int, cols: int, count: int) -> Any:
    """`count` (x0, y0, x1, y1) boxes in [0, 1], row-major cells of a rows x cols grid."""
    import torch

    index = torch.arange(count)
    x0, y0 = (index % cols) / cols, (index // cols) / rows
    return torch.stack([x0, y0, x0 + 1 / cols, y0 + 1 / rows], dim=-1)


def _page_boxes(ctx: PrepareContext, boxes: Any) -> Any:
    """Boxes in [0, 1] in the model's coordinates: integers indexing its 2-D position table
    (LayoutLM's 0-1000) when it has one, else normalised."""
    table = find_config_value(ctx.config, ("max_2d_position_embeddings",))
    return (boxes * min(1000, table - 1)).long() if isinstance(table, int) else boxes


#: Scale of the word boxes OCR image processors return (LayoutLMv3's `normalize_box`).
_OCR_BOX_SCALE = 1000


def ocr_text(ctx: PrepareContext, out: dict[str, Any]) -> dict[str, Any]:
    """The words an OCR image processor read off each page (`words`, `boxes`: LayoutLMv3's with
    `apply_ocr`) as document processors hand them to the model (UdopProcessor): the words'
    token ids with the tokenizer's special tokens, right-padded, and a box per token (`bbox`):
    its word's box, the whole page for special tokens (the tokenizer's `sep_token_box`)."""
    import torch

    tok, words, boxes = ctx.pre.tokenizer, out.get("words"), out.get("boxes")
    if (tok is None or not isinstance(words, list) or not isinstance(boxes, list)
            or not {"input_ids", "bbox"} <= ctx.params):
        return {}
    rows, row_boxes = [], []
    for page_words, page_boxes in zip(words, boxes, strict=True):
        ids: list[int] = []
        unit: list[list[float]] = []
        for word, box in zip(page_words, page_boxes, strict=True):
            pieces = tok(word, add_special_tokens=False)["input_ids"]
            ids += pieces
            unit += [[c / _OCR_BOX_SCALE for c in box]] * len(pieces)
        word_boxes = iter(unit)
        rows.append(tok.build_inputs_with_special_tokens(ids))
        row_boxes.append([[1.0] * 4 if special else next(word_boxes)
                          for special in tok.get_special_tokens_mask(ids)])
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), tok.pad_token_id or 0, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    bbox = torch.zeros((len(rows), width, 4))
    for i, (row, row_box) in enumerate(zip(rows, row_boxes, strict=True)):
        input_ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
        bbox[i, :len(row)] = torch.tensor(row_box)
    if ctx.pre.synthetic:
        input_ids = safe_ids(ctx.config, input_ids)
    return {"input_ids": input_ids, "attention_mask": mask, "bbox": _page_boxes(ctx, bbox)}


def layout_inputs(ctx: PrepareContext, kept: dict[str, Any]) -> dict[str, Any]:
    """What document and region-based models read beside the text, sized by their config:
    a box per token (`bbox`: words left to right on lines of a page, in the config's
    coordinate range) and detected regions (`visual_feats` of `visual_feat_dim`, and their
    boxes `visual_pos`), seeded."""
    import torch

    ids = kept.get("input_ids")
    if not isinstance(ids, torch.Tensor):
        return {}
    batch, length = ids.shape[:2]
    out: dict[str, Any] = {}
    if "bbox" in ctx.params and "bbox" not in kept:
        lines = -(-length // _WORDS_PER_LINE)
        boxes = _page_boxes(ctx, _grid_boxes(lines, _WORDS_PER_LINE, length))
        out["bbox"] = boxes[None].repeat(batch, 1, 1)
    feat_dim = find_config_value(ctx.config, ("visual_feat_dim",))
    if "visual_feats" in ctx.params and "visual_feats" not in kept and isinstance(feat_dim, int):
        rows, cols = _REGION_GRID
        generator = torch.Generator().manual_seed(0)
        # Pooled detector features are non-negative (after a ReLU).
        out["visual_feats"] = torch.rand(batch, rows * cols, feat_dim, generator=generator)
        pos_dim = find_config_value(ctx.config, ("visual_pos_dim",)) or 4
        out["visual_pos"] = _grid_boxes(rows, cols, rows * cols)[None, :, :pos_dim].repeat(
            batch, 1, 1)
    protein = getattr(ctx.config, "protein_encoder_config", None)
    if "protein_input_ids" in ctx.params and isinstance(getattr(protein, "vocab_size", None), int):
        # A protein sequence for the question to be about: ESM-style <cls> residues <eos>, the
        # residues drawn (seeded) past the special tokens (0-4).
        generator = torch.Generator().manual_seed(0)
        residues = torch.randint(5, protein.vocab_size, (1, _PROTEIN_LENGTH), generator=generator)
        ids = torch.cat([torch.zeros(1, 1, dtype=torch.long), residues,
                         torch.full((1, 1), 2, dtype=torch.long)], dim=1)
        out["protein_input_ids"] = ids.repeat(batch, 1)
        out["protein_attention_mask"] = torch.ones_like(out["protein_input_ids"])
    return out


#: Forward parameters that take a processor output under another name (vision towers of
#: Qwen-style models read `grid_thw` and `hidden_states`, their processors write
#: `image_grid_thw` and `pixel_values`).
INPUT_ALIASES: dict[str, tuple[str, ...]] = {
    "grid_thw": ("image_grid_thw",),
    "image_grid_thw": ("grid_thw",),
    # Qwen-style vision towers name their flattened patches `hidden_states`, audio codec
    # encoders their waveform.
    "hidden_states": ("pixel_values", "input_values"),
    "merge_sizes": ("image_merge_sizes",),
    "pixel_position_ids": ("image_position_ids",),
}


PREPARERS: dict[str, Callable[[PrepareContext, list[Any]], dict[str, Any]]] = {
    "text": prepare_text,
    "image": prepare_image,
    "image-pair": prepare_image_pair,
    "video": prepare_video,
    "audio": prepare_audio,
    "image+text": prepare_image_text,
    "video+text": prepare_video_text,
    "audio+text": prepare_audio_text,
    "time-series": prepare_time_series,
    "trajectory": prepare_trajectory,
}


def prepare(ctx: PrepareContext, natural: list[Any]) -> dict[str, Any]:
    """Tensors for `natural` inputs, keeping only what the model's forward accepts.

    Raises:
        SkillUnavailableError: the model needs an input no builder produces.
    """
    import torch

    if type(ctx.model).forward is torch.nn.Module.forward and not callable(
            getattr(ctx.model, "generate", None)):
        # A component only its parent model calls into (GLM-Image's VQ-VAE: encode() alone);
        # generate-only models (Bark) run through generate().
        raise SkillUnavailableError(
            f"{ctx.entry.model_type}: {type(ctx.model).__name__} defines no forward(); it is a "
            "component its parent model calls through its own methods, not a model to run alone"
        )
    try:
        builder = PREPARERS[ctx.entry.modality]
    except KeyError:
        raise UnknownNameError("modality", ctx.entry.modality, PREPARERS) from None
    out = builder(ctx, natural)
    params = ctx.params
    for name, aliases in INPUT_ALIASES.items():
        alias = next((a for a in aliases if a in out), None)
        if name in params and name not in out and alias is not None:
            out[name] = out[alias]
    kept = {k: v for k, v in out.items() if k in params or ctx.keep_all}
    if "input_ids" in out and "input_ids" not in kept and "attention_mask" in kept:
        # The mask of tokens the model does not read (a Q-Former reads query embeddings).
        del kept["attention_mask"]
    kept.update(layout_inputs(ctx, kept))
    missing = [p for p in required_params(ctx.model) if p not in kept]
    if "encoder_hidden_states" in params and "encoder_hidden_states" not in kept and isinstance(
            getattr(ctx.config, "encoder_hidden_size", None), int):
        # A cross-attending component (a Q-Former) sized for the encoder states it reads.
        missing.append("encoder_hidden_states")
    for name in [m for m in missing if m.endswith(("_embeds", "hidden_states", "latents"))]:
        kept[name] = component_features(ctx, name, len(natural))
        missing.remove(name)
    if missing:
        raise SkillUnavailableError(
            f"{ctx.entry.model_type}: {type(ctx.model).__name__}.forward needs "
            f"{', '.join(missing)}, which the {ctx.entry.modality} input builder does not produce"
        )
    return kept

"""Small random-weight configs: a model type's own default config, shrunk consistently.

Shrinking works on the default config's dict, recursively through sub-configs, so that every
size keeps its relations to the others:

* widths (hidden, intermediate, projection sizes, group counts...) are divided by one factor
  chosen per config tree so the widest hidden size lands near `TARGET_WIDTH`; per-head sizes
  (head_dim, rotary sections...) by at most `HEAD_DIVISOR` (rotary embeddings need room), and
  head counts by the rest, so `heads * head_dim == hidden` keeps holding. Equal values shrink
  to equal values (a vision tower's output size and the text model's hidden size stay equal);
* layer counts drop to `LAYERS`; per-layer lists keep one layer of each kind; layer indices and
  `stageN` names are rescaled into the new depth;
* vocabularies drop to `VOCAB_SIZE`; every token id outside it is moved inside, by value, so equal
  ids stay equal across sub-configs;
* expert counts drop to `MAX_EXPERTS`, active experts to `MAX_ACTIVE_EXPERTS`; keypoint
  detectors keep at most `MAX_KEYPOINTS` keypoints.

Then a repair pass fills what default configs leave unset (`head_dim`, `vocab_size`...) and makes
head counts divide their dimension. Types these rules cannot shrink get explicit overrides in
`skillsets.runtime.tiny_overrides`, each with its reason.

A fixed image size above `MAX_IMAGE_SIZE` (SAM's 1024 px) is divided by a power of two, together
with every size measured on the image grid (`image_embedding_size`, `backbone_feature_sizes`...),
keeping whole patches; the inputs follow, since they are built at the config's image size (see
`skillsets.runtime.processors.fitted_image_processor`). Tiny configs only serve random weights:
a checkpoint's own config is never changed. Audio lengths and mel bins are never shrunk.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from transformers import PreTrainedConfig

#: The widest hidden size a tiny config aims for.
TARGET_WIDTH = 256
#: Per-head sizes shrink by at most this much (a 128-dim head keeps 32 dims).
HEAD_DIVISOR = 4
LAYERS = 2
#: Upper bound on layers when per-layer lists hold more than `LAYERS` kinds of layer.
MAX_LAYERS = 4
VOCAB_SIZE = 512
MAX_EXPERTS = 4
#: Video clips keep at most this many frames (a multiple of every tubelet depth in use).
MAX_FRAMES = 8
MAX_ACTIVE_EXPERTS = 2
#: Forecast horizon given to time-series configs that leave it unset.
PREDICTION_LENGTH = 8
#: Window for sliding-attention layers whose config leaves it unset.
SLIDING_WINDOW = 64
#: Keypoints a keypoint detector keeps (SuperPoint's default -1 keeps every local maximum: with
#: random weights that is ~1400 on a 224 x 320 image, which the matchers reading them
#: (SuperGlue, LightGlue) then attend over all-to-all).
MAX_KEYPOINTS = 128
#: Largest fixed image side a tiny config keeps (see `image_divisor`): SAM's 1024 px are 4096
#: patches of global attention, most of the whole-catalog sweep's time for a random network.
MAX_IMAGE_SIZE = 384
#: Sizes measured in patches or feature-map cells of the image (SAM's `image_embedding_size`,
#: `backbone_feature_sizes`, `memory_attention_rope_feat_sizes`): they shrink with `image_size`.
_IMAGE_GRID_RE = re.compile(r"(image_embedding_size|feature_sizes|feat_sizes)$")

_LAYER_KEYS = frozenset({
    "num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers", "decoder_layers",
    "num_encoder_layers", "num_decoder_layers", "depth",
    "num_self_attends_per_block",  # Perceiver's latent transformer (26 by default)
    "layers",  # Kosmos-2 / Kosmos-2.5 text decoders (24 by default)
    "num_spatial_layers", "num_temporal_layers",  # factorized video encoders (VideoPrism)
})
#: Keys of a composite config that index the hidden states of its `vision_config`'s layers.
_VISION_LAYER_REF_KEYS = frozenset({"vision_feature_layer", "vision_feature_layers",
                                    "select_layer"})
#: Placeholder token keys a composite config may leave unset (set by checkpoints/processors).
_PLACEHOLDER_KEYS = frozenset({"image_token_id", "image_token_index", "video_token_id",
                               "audio_token_id", "audio_token_index"})
#: Counts of a subset of the stack's layers (the last N layers reuse earlier KV caches): scaled
#: into the new depth; "all layers" stays all layers.
_LAYER_SUBSET_KEYS = frozenset({"num_kv_shared_layers"})
_EXPERT_KEYS = frozenset({
    "num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts",
})
_ACTIVE_EXPERT_KEYS = frozenset({
    "num_experts_per_tok", "num_experts_per_token", "moe_k", "moe_topk", "top_k_experts",
    "num_selected_experts",
})
#: Expert-group routing (DeepSeek-V3 style): groups must divide the (shrunk) expert count.
_EXPERT_GROUP_KEYS = frozenset({"n_group", "topk_group", "num_expert_group"})
#: Residual blocks per resolution level of a VQ-GAN image tokenizer: one per level.
_BLOCKS_PER_LEVEL_KEYS = frozenset({"num_res_blocks"})
#: A VQ-GAN's trunk width (every level is a multiple of it): shrunk like a width, but its
#: GroupNorm layers split channels into 32 groups, so it keeps at least `MIN_CONV_BASE`.
_CONV_BASE_KEYS = frozenset({"base_channels"})
MIN_CONV_BASE = 32
#: Per-stage depth lists (blocks per stage): each stage keeps at most one block.
_DEPTH_LIST_KEYS = frozenset({
    "depths", "stage_num_blocks", "blocks_per_stage", "num_block_repeats", "stage_numb_of_layers",
    "block_repeats", "depth", "block_sizes",
})
_DIM_RE = re.compile(
    r"(hidden|dim|d_model|n_embd|d_ff|d_kv|d_inner|d_head|head_size|ffn|intermediate|embed|"
    r"channel|width|units|lora_rank|proj|_size$|^size$|latent|groups|features|d_ssm)"
)
#: Per-head sizes: shrink by the head divisor, not the width divisor.
_HEAD_DIM_RE = re.compile(
    r"(head_dim|^d_head$|^d_kv$|head_size|kv_channels|dim_head|mamba_d_head|_head_dim$)"
)
#: Head counts: shrink by what the head divisor leaves of the width divisor.
_HEAD_COUNT_RE = re.compile(r"(heads$|^n_head$|heads_per_|^num_heads|_heads_per_layer$)")
#: Keys whose value is the model's width: they decide the width divisor.
_WIDTH_KEYS = ("hidden_size", "d_model", "n_embd", "embed_dim", "dim", "hidden_dim", "emb_dim")
#: Size-like keys that are not widths (a pooler's output size is one; DETRs' query_dim is the
#: 4 box coordinates).
_NOT_DIM_RE = re.compile(
    r"(image_size|patch|tubelet|vocab|position|^max_|_max$|token|window|chunk|rate|mel|feature_size|kernel|"
    r"stride|fft|hop|length|layer|spec_size|^input_size$|img_size|crop|bucket|frame|samples|factor|"
    r"ratio|^num_(?!.*groups)|_id$|_ids$|index|indices|seed|label|classes|scale|theta|temperature|"
    r"base|multiple_of|codebook_size|sampling|batch|pool(?!er_)|grid|resolution|step|stack|"
    r"group_size|num_features$|unit_size|image_embedding|block_size|^query_dim$)"
)
_TOKEN_ID_RE = re.compile(r"(token_id|token_index|_token_ids|_id|_ids|token_offset)$")
_LAYER_INDEX_RE = re.compile(r"(index|indexes|indices|idx|idxs|layers$|layer$|layer_ids$)")
_STAGE_RE = re.compile(r"^stage(\d+)$")
#: (dimension, head count) pairs that must divide; checked only where no explicit head size is set.
_HEAD_PAIRS = (
    ("hidden_size", "num_attention_heads"), ("hidden_size", "num_heads"), ("d_model", "num_heads"),
    ("d_model", "encoder_attention_heads"), ("d_model", "decoder_attention_heads"),
    ("d_model", "n_head"), ("embed_dim", "num_heads"), ("embed_dim", "num_attention_heads"),
    ("n_embd", "n_head"), ("dim", "n_heads"), ("hidden_size", "n_head"),
)


@dataclass
class _Shrinker:
    """State shared across one config tree so equal values shrink to equal values."""

    width_divisor: int = 1
    token_ids: dict[int, int] = field(default_factory=dict)
    allocated: int = 0

    @property
    def head_divisor(self) -> int:
        return min(self.width_divisor, HEAD_DIVISOR)

    @property
    def count_divisor(self) -> int:
        return self.width_divisor // self.head_divisor

    def dim(self, value: int) -> int:
        return _divide(value, self.width_divisor)

    def head_dim(self, value: int) -> int:
        return _divide(value, self.head_divisor)

    def heads(self, value: int) -> int:
        if value % self.count_divisor == 0:
            return max(1, value // self.count_divisor)
        return value  # the repair pass makes it divide its width

    def token(self, value: int) -> int:
        if value < VOCAB_SIZE:
            return value
        if value not in self.token_ids:
            self.token_ids[value] = self.fresh_token()
        return self.token_ids[value]

    def fresh_token(self) -> int:
        """An unused id at the top of the vocabulary, away from the byte-level text tokens."""
        self.allocated += 1
        return VOCAB_SIZE - self.allocated

    def shrink(self, d: dict[str, Any]) -> dict[str, Any]:
        if not all(isinstance(k, str) for k in d):
            return dict(d)  # a lookup table keyed by numbers (patch counts -> queries): keep
        layers = {k: v for k, v in d.items()
                  if k in _LAYER_KEYS and isinstance(v, int) and not isinstance(v, bool)}
        new_layers = min(MAX_LAYERS, max(LAYERS, self._layer_kinds(d, layers)))
        old_layers = max(layers.values(), default=0)
        out = dict(d)
        for key, value in d.items():
            if isinstance(value, bool) or value is None or key in ("id2label", "label2id"):
                continue
            if isinstance(value, dict):
                if value and all(str(k).isdigit() for k in value) and old_layers > new_layers:
                    kept = _kept_layers(d, old_layers, new_layers)
                    out[key] = self._rescale_layer_keys(value, old_layers, new_layers, kept)
                else:
                    out[key] = self.shrink(value)  # sub-configs and plain nested dicts alike
            elif key in layers:
                out[key] = min(value, new_layers) if value > 0 else value
            elif key in _LAYER_SUBSET_KEYS and isinstance(value, int) and old_layers > new_layers:
                out[key] = new_layers if value == old_layers else value * new_layers // old_layers
            elif isinstance(value, int):
                out[key] = self._int(key, value)
            elif isinstance(value, list | tuple) and value:
                out[key] = self._list(key, list(value), layers, old_layers, new_layers)
        if "out_indices" in d and isinstance(d.get("out_features"), list):
            out["out_features"] = None  # derived again from the rescaled out_indices
        for key in _PLACEHOLDER_KEYS & {k for k, v in d.items() if v is None}:
            # Checkpoints set these; a random model needs one so images/audio can be placed.
            out[key] = self.fresh_token()
        vision = d.get("vision_config")
        if isinstance(vision, dict):
            self._rescale_vision_refs(out, vision)
        _repair_conv_trunk(d, out)
        return _repair(out)

    def _rescale_layer_keys(
        self, d: dict[str, Any], old: int, new: int, kept: list[int] | None
    ) -> dict[str, Any]:
        """A dict keyed by layer index ("05": {...} per-layer overrides), re-keyed into the new
        depth and its values shrunk. With `kept` (the old layers the per-layer lists keep), each
        kept layer keeps its entry; otherwise indices are scaled (first one wins)."""
        out: dict[str, Any] = {}
        for k, v in d.items():
            index = int(k)
            if kept is not None and index not in kept:
                continue
            moved = kept.index(index) if kept is not None else index * new // old
            out.setdefault(str(moved), self.shrink(v) if isinstance(v, dict) else v)
        return out

    def _rescale_vision_refs(self, out: dict[str, Any], vision: dict[str, Any]) -> None:
        """Layer indices into the vision tower's hidden states (embeddings + one per layer),
        moved into the shrunk tower; negative indices stay negative, list lengths are kept."""
        old = max((v for k, v in vision.items() if k in _LAYER_KEYS and isinstance(v, int)),
                  default=0)
        new = min(old, MAX_LAYERS, max(LAYERS, self._layer_kinds(vision, {"_": old})))
        if old <= new:
            return

        def move(index: int) -> int:
            position = index if index >= 0 else old + 1 + index
            moved = position * new // old
            return moved if index >= 0 else moved - (new + 1)

        # The references live next to vision_config or in a sibling (an adapter's config).
        siblings = [v for k, v in out.items() if isinstance(v, dict) and k != "vision_config"]
        holders = [out, *siblings]
        for holder in holders:
            for key in _VISION_LAYER_REF_KEYS & holder.keys():
                value = holder[key]
                if isinstance(value, int) and not isinstance(value, bool):
                    holder[key] = move(value)
                elif isinstance(value, list) and all(isinstance(v, int) for v in value):
                    holder[key] = [move(v) for v in value]

    def _layer_kinds(self, d: dict[str, Any], layers: dict[str, int]) -> int:
        """How many layers the shrunk config needs to keep every kind of layer it had.

        Per-layer lists keep one layer per distinct entry; a repeating pattern shorter than the
        stack (`block_types = [recurrent, recurrent, attention]`) keeps one full cycle; a
        backbone keeps one layer per feature map it outputs.
        """
        kinds = 1
        deepest = max(layers.values(), default=0)
        for key, value in d.items():
            if not isinstance(value, list | tuple) or not value:
                continue
            if len(value) in layers.values():
                try:
                    kinds = max(kinds, len(set(value)))
                except TypeError:  # unhashable per-layer entries
                    continue
            elif "type" in key and all(isinstance(v, str) for v in value) and len(value) < deepest:
                kinds = max(kinds, len(value))
            elif key.endswith("out_indices") and all(isinstance(v, int) and v >= 0 for v in value):
                kinds = max(kinds, len(set(value)))
        return kinds

    def _int(self, key: str, value: int) -> int:
        if "vocab" in key and value > VOCAB_SIZE:
            return VOCAB_SIZE
        if key == "num_frames" and value > MAX_FRAMES:
            return MAX_FRAMES
        if key == "max_keypoints" and not 0 <= value <= MAX_KEYPOINTS:
            return MAX_KEYPOINTS
        if key in _EXPERT_KEYS and value > MAX_EXPERTS:
            return MAX_EXPERTS
        if key in _ACTIVE_EXPERT_KEYS and value > MAX_ACTIVE_EXPERTS:
            return MAX_ACTIVE_EXPERTS
        if key in _EXPERT_GROUP_KEYS or key in _BLOCKS_PER_LEVEL_KEYS:
            return 1
        if key in _CONV_BASE_KEYS:
            return max(min(value, MIN_CONV_BASE), self.dim(value))
        if _TOKEN_ID_RE.search(key):
            return self.token(value)
        return self._size(key, value)

    def _size(self, key: str, value: int) -> int:
        if _HEAD_DIM_RE.search(key):
            return self.head_dim(value)
        if _HEAD_COUNT_RE.search(key):
            return self.heads(value)
        if _DIM_RE.search(key) and not _NOT_DIM_RE.search(key):
            return self.dim(value)
        return value

    def _list(
        self, key: str, value: list[Any], layers: dict[str, int], old: int, new: int
    ) -> list[Any]:
        ints = all(isinstance(x, int) and not isinstance(x, bool) for x in value)
        if ints and key in _DEPTH_LIST_KEYS:
            # One block per stage; a stage count held in a layer key (Swin2SR's `num_layers`)
            # drops with it, like the other per-stage lists.
            stages = value[:new] if len(value) in layers.values() else value
            return [min(v, 1) for v in stages]
        if len(value) in layers.values() and len(value) > new:
            return _keep_kinds(value, new)
        if not ints:
            if old > new and all(isinstance(x, str) and _STAGE_RE.match(x) for x in value):
                stages = [int(_STAGE_RE.match(x).group(1)) * new // old for x in value]  # type: ignore[union-attr]
                return [f"stage{s}" for s in dict.fromkeys(stages)]
            return value
        if _TOKEN_ID_RE.search(key) and not _LAYER_INDEX_RE.search(key):
            return [self.token(v) for v in value]
        if "section" in key:
            return _scale_sections(value, self.head_divisor)
        if old > new and _LAYER_INDEX_RE.search(key) and all(v <= old for v in value):
            return _rescale_indices(value, old, new)
        if _HEAD_COUNT_RE.search(key) and any(v % self.count_divisor for v in value):
            return value
        return [self._size(key, v) for v in value]


def _divide(value: int, divisor: int) -> int:
    """`value / divisor` when it divides evenly and stays above 1. A large value that does not
    divide (an MLP of 1407 or 4304) goes to the nearest multiple of 4 of its share (matmul
    kernels want 16-byte strides); a small one is kept."""
    if divisor <= 1 or value < 2 * divisor:
        return value
    if value % divisor == 0:
        return value // divisor
    if value >= 8 * divisor:
        return max(4, round(value / divisor / 4) * 4)
    return value


def _scale_sections(sections: list[int], divisor: int) -> list[int]:
    """Rotary sections (M-RoPE time/height/width) shrunk with the head size: their sum drops by
    `divisor`, split in proportion."""
    total = sum(sections)
    if divisor <= 1 or total % divisor or total // divisor < len(sections):
        return sections
    return _proportional(sections, total // divisor)


def _rescale_indices(values: list[int], old: int, new: int) -> list[int]:
    """Layer indices of an `old`-deep stack moved into a `new`-deep one.

    When the distinct indices fit, they stay distinct and in order, ending where the deepest
    one lands (backbone outputs [9, 10, 11, 12] of 12 -> [1, 2, 3, 4] of 4); otherwise they are
    scaled down and merged. Negative (from-the-end) indices are kept.
    """
    positive = sorted({v for v in values if v >= 0})
    if positive and len(positive) <= new + (1 if 0 in positive else 0):
        top = max(positive[-1] * new // old, len(positive) - 1)
        moved = {v: top - (len(positive) - 1 - i) for i, v in enumerate(positive)}
        return [moved[v] if v >= 0 else v for v in values]
    return list(dict.fromkeys(v * new // old if v >= 0 else v for v in values))


def _kept_layers(d: dict[str, Any], old: int, new: int) -> list[int] | None:
    """Which old layers the shrunk per-layer lists keep (see `_keep_kinds`), read from the
    config's `layer_types`; None when it has no such list."""
    types = d.get("layer_types")
    if not isinstance(types, list | tuple) or len(types) != old or old <= new:
        return None
    return _kept_indices(list(types), new)


def _keep_kinds(values: list[Any], n: int) -> list[Any]:
    """`n` entries of a per-layer list, keeping the first layer of each kind, in order."""
    return [values[i] for i in _kept_indices(values, n)]


def _kept_indices(values: list[Any], n: int) -> list[int]:
    """The indices `_keep_kinds` keeps: the first layer of each kind, then the earliest others."""
    chosen: list[int] = []
    seen: list[Any] = []
    for i, v in enumerate(values):
        if v not in seen:
            seen.append(v)
            chosen.append(i)
    for i in range(len(values)):
        if len(chosen) >= n:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen[:n])


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, max(1, at_most) + 1) if n % d == 0)


def _repair_tokens_per_image(d: dict[str, Any]) -> None:
    """Pooled vision towers (Gemma 3) need the token grid side to divide the patch grid side."""
    tokens, vision = d.get("mm_tokens_per_image"), d.get("vision_config")
    if not isinstance(tokens, int) or not isinstance(vision, dict):
        return
    size, patch = vision.get("image_size"), vision.get("patch_size")
    if not isinstance(size, int) or not isinstance(patch, int) or patch <= 0:
        return
    side, token_side = size // patch, math.isqrt(tokens)
    if token_side and side % token_side == 0:
        return
    best = max(s for s in range(1, min(side, token_side) + 1) if side % s == 0)
    d["mm_tokens_per_image"] = best * best


def _repair_conv_trunk(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A VQ-GAN whose attention width is its deepest level's width (Emu3: hidden_size = 256 x 4)
    keeps it so after the trunk width stops at `MIN_CONV_BASE`."""
    base, levels = old.get("base_channels"), old.get("channel_multiplier")
    if not isinstance(base, int) or not isinstance(levels, list) or not levels:
        return
    for key in ("hidden_size",):
        if old.get(key) == base * levels[-1]:
            new[key] = new["base_channels"] * new["channel_multiplier"][-1]


def _repair_merger_width(d: dict[str, Any]) -> None:
    """A vision tower's merger writes into the text model: its output width is the text width
    (default configs sometimes pair towers and text models of different sizes)."""
    vision, text = d.get("vision_config"), d.get("text_config")
    if isinstance(vision, dict) and isinstance(text, dict) and isinstance(
            vision.get("out_hidden_size"), int) and isinstance(text.get("hidden_size"), int):
        vision["out_hidden_size"] = text["hidden_size"]


def _repair_layer_periods(d: dict[str, Any]) -> None:
    """Layers placed periodically (`attn_layer_period` 8, `attn_layer_offset` 4: attention in
    layer 4, 12...) must still occur in the shrunk stack: the last layer becomes one."""
    depth = max((v for k, v in d.items() if k in _LAYER_KEYS and isinstance(v, int)
                 and not isinstance(v, bool)), default=0)
    for key, offset in list(d.items()):
        if not key.endswith("_layer_offset") or not isinstance(offset, int) or depth < 1:
            continue
        period_key = key.removesuffix("_offset") + "_period"
        if isinstance(d.get(period_key), int) and offset >= depth:
            d[period_key], d[key] = depth, depth - 1


#: Keys of the factor by which a connector pixel-shuffles the vision tower's patch grid.
_SHUFFLE_KEYS = ("pixel_shuffle_factor", "scale_factor", "downsample_factor")


def _repair_pixel_shuffle(d: dict[str, Any]) -> None:
    """The patch grid (image_size / patch_size per side) must divide by the connector's pixel
    shuffle factor; some default configs (Idefics3: 224 px, 32 px patches, factor 2) break
    that, checkpoints never do. The image size grows to the next grid that divides."""
    vision = d.get("vision_config")
    factor = next((d[k] for k in _SHUFFLE_KEYS if isinstance(d.get(k), int)
                   and not isinstance(d.get(k), bool)), None)
    if not isinstance(vision, dict) or factor is None or factor < 2:
        return
    size, patch = vision.get("image_size"), vision.get("patch_size")
    if isinstance(size, int) and isinstance(patch, int) and patch > 0 and (
            size // patch) % factor:
        vision["image_size"] = -(-(size // patch) // factor) * factor * patch


def _repair(d: dict[str, Any]) -> dict[str, Any]:
    """Fill what defaults leave unset and make head counts divide their dimension."""
    _repair_tokens_per_image(d)
    _repair_pixel_shuffle(d)
    _repair_merger_width(d)
    _repair_layer_periods(d)
    if "vocab_size" in d and d["vocab_size"] is None and "model_type" in d:
        d["vocab_size"] = VOCAB_SIZE
    if "prediction_length" in d and d["prediction_length"] is None:
        d["prediction_length"] = PREDICTION_LENGTH
    experts = [d.get(k) for k in _EXPERT_KEYS if isinstance(d.get(k), int)]
    if "num_experts_per_tok" in d and d["num_experts_per_tok"] is None and any(experts):
        d["num_experts_per_tok"] = MAX_ACTIVE_EXPERTS
    if "attn_layer_indices" in d and not d["attn_layer_indices"]:
        # Hybrid stacks keep one attention layer: a cache of recurrent layers only cannot
        # drive transformers' generation loop.
        d["attn_layer_indices"] = [LAYERS - 1]
    layer_types = [str(t) for t in d.get("layer_types") or []]
    sliding_keys = [k for k, v in d.items() if "sliding" in k and k != "sliding_window" and v]
    if "sliding_window" in d and d["sliding_window"] is None and (
            sliding_keys or any("sliding" in t for t in layer_types)):
        d["sliding_window"] = SLIDING_WINDOW
    hidden, heads = d.get("hidden_size"), d.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0:
        if "head_dim" in d and d["head_dim"] is None:
            d["head_dim"] = hidden // heads
        if "num_key_value_heads" in d and d["num_key_value_heads"] is None:
            d["num_key_value_heads"] = heads
    explicit_head = any(isinstance(d.get(k), int) for k in ("head_dim", "d_head", "d_kv"))
    # Vision towers with 2-D rotary positions split each head in four (height/width x cos/sin).
    quarter = 4 if isinstance(d.get("patch_size"), int) else 1
    for dim_key, head_key in _HEAD_PAIRS:
        dim, n = d.get(dim_key), d.get(head_key)
        if explicit_head or not isinstance(dim, int) or not isinstance(n, int) or n <= 0:
            continue
        if isinstance(dim, bool) or (dim % n == 0 and (dim // n) % quarter == 0):
            continue
        d[head_key] = max((h for h in range(1, n + 1) if dim % h == 0
                           and (dim // h) % quarter == 0), default=_largest_divisor(dim, n))
        kv = d.get("num_key_value_heads")
        if head_key == "num_attention_heads" and isinstance(kv, int) and kv > 0:
            # One KV head per query head (MHA, MLA) stays so; grouped KV heads divide the count.
            d["num_key_value_heads"] = d[head_key] if kv == n else math.gcd(kv, d[head_key])
    if not explicit_head:
        _repair_partial_rotary(d)
    return d


def _repair_partial_rotary(d: dict[str, Any]) -> None:
    """Partial rotary embeddings rotate `head_dim * partial_rotary_factor` dims in cos/sin pairs:
    where the shrunk head leaves an odd count (StableLM: 20 * 0.25), use fewer, wider heads."""
    rope = d.get("rope_parameters")
    factor = d.get("partial_rotary_factor") or (
        rope.get("partial_rotary_factor") if isinstance(rope, dict) else None)
    hidden, heads = d.get("hidden_size"), d.get("num_attention_heads")
    if not isinstance(factor, float) or not 0 < factor < 1 or not isinstance(hidden, int) \
            or not isinstance(heads, int) or heads <= 0 or hidden % heads:
        return

    def even(h: int) -> bool:
        return hidden % h == 0 and int(hidden // h * factor) % 2 == 0

    if even(heads):
        return
    d["num_attention_heads"] = max((h for h in range(1, heads + 1) if even(h)), default=heads)
    kv = d.get("num_key_value_heads")
    if isinstance(kv, int) and kv > 0:
        new = d["num_attention_heads"]
        d["num_key_value_heads"] = new if kv == heads else math.gcd(kv, new)


def _widest(values: dict[str, Any]) -> int:
    """The largest width-key value anywhere in a config dict tree."""
    found = [v for k, v in values.items() if k in _WIDTH_KEYS and isinstance(v, int)
             and not isinstance(v, bool)]
    found += [_widest(v) for v in values.values() if isinstance(v, dict)]
    return max(found, default=0)


def width_divisor(values: dict[str, Any]) -> int:
    """The power of two that brings the widest hidden size down to about `TARGET_WIDTH`."""
    divisor, widest = 1, _widest(values)
    while widest // (divisor * 2) >= TARGET_WIDTH:
        divisor *= 2
    return max(divisor, 1)


def _dicts(values: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """`values` and every dict nested in it (sub-configs)."""
    yield values
    for value in values.values():
        if isinstance(value, dict):
            yield from _dicts(value)


def _ints(value: Any) -> list[int]:
    """The ints of an int or of a (nested) list of ints; [] for anything else."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list | tuple) and value:
        parts = [_ints(v) for v in value]
        return [i for p in parts for i in p] if all(parts) else []
    return []


def _patch_side(d: dict[str, Any]) -> int:
    """The side of the patches (or the stem's stride) that cut a config's images; 1 if unsaid."""
    for key in ("patch_size", "patch_stride"):
        sides = _ints(d.get(key))
        if sides and min(sides) > 0:
            return max(sides)
    return 1


def image_divisor(values: dict[str, Any]) -> int:
    """The power of two that brings the largest `image_size` of a config tree to at most
    `MAX_IMAGE_SIZE`, halved until every size measured on the image grid divides by it (and,
    where the tree has such sizes, every image size divides into whole patches)."""
    sizes = [(s, _patch_side(d)) for d in _dicts(values) for s in _ints(d.get("image_size"))]
    if not sizes:
        return 1
    grids = [v for d in _dicts(values) for k, value in d.items()
             if isinstance(k, str) and _IMAGE_GRID_RE.search(k) for v in _ints(value)]
    divisor = 1
    while max(s for s, _ in sizes) > MAX_IMAGE_SIZE * divisor:
        divisor *= 2
    while divisor > 1 and (any(g % divisor for g in grids) or grids and any(
            s % (divisor * patch) for s, patch in sizes)):
        divisor //= 2
    return divisor


def _shrink_images(values: dict[str, Any], divisor: int) -> dict[str, Any]:
    """A copy of `values` with image sizes and sizes on the image grid divided by `divisor`;
    image sizes keep whole patches (at least one)."""
    patch = _patch_side(values)

    def image(size: int) -> int:
        return max(patch, size // divisor // patch * patch)

    def grid(value: Any) -> Any:
        return [grid(v) for v in value] if isinstance(value, list | tuple) else value // divisor

    out = dict(values)
    for key, value in values.items():
        if isinstance(value, dict):
            out[key] = _shrink_images(value, divisor)
        elif not _ints(value):
            continue
        elif key == "image_size":
            out[key] = [image(s) for s in value] if isinstance(value, list | tuple) else image(
                value)
        elif isinstance(key, str) and _IMAGE_GRID_RE.search(key):
            out[key] = grid(value)
    return out


def shrink_config_dict(values: dict[str, Any]) -> dict[str, Any]:
    """A shrunk copy of a config's `to_dict()` (see the module docstring for the rules)."""
    divisor = image_divisor(values)
    if divisor > 1:
        values = _shrink_images(values, divisor)
    return _Shrinker(width_divisor=width_divisor(values)).shrink(values)


def _merge(base: dict[str, Any], extra: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    from skillsets.runtime.tiny_overrides import Same

    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, root)
        elif isinstance(value, Same):
            out[key] = value.resolve(root)
        else:
            out[key] = value
    return out


_MROPE_DEFAULT_RE = re.compile(r"""get\(\s*["']mrope_section["']\s*,\s*\[([\d,\s]+)\]\s*\)""")


def _mrope_default(model_type: str) -> list[int] | None:
    """The M-RoPE sections a model's code falls back to when its config names none.

    Those defaults fit the full-size head; a shrunk head needs them shrunk too, so they are
    read from the model's own source rather than copied into a table here.
    """
    import importlib.util

    from transformers.models.auto.configuration_auto import model_type_to_module_name

    module = model_type_to_module_name(model_type)
    spec = importlib.util.find_spec(f"transformers.models.{module}")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        source = Path(folder) / f"modeling_{module}.py"
        if source.is_file():
            match = _MROPE_DEFAULT_RE.search(source.read_text(encoding="utf-8"))
            if match:
                return [int(x) for x in match.group(1).split(",") if x.strip()]
    return None


def _proportional(sections: list[int], target: int) -> list[int]:
    """`sections` rescaled to sum to `target` (largest remainder), each at least 1; equal
    sections stay equal where they can (ERNIE-VL interleaves its height and width sections)."""
    total = sum(sections)
    exact = [s * target / total for s in sections]
    out = [max(1, int(e)) for e in exact]
    order = sorted(set(sections), key=lambda v: v * target / total % 1, reverse=True)
    for value in order:
        group = [i for i, s in enumerate(sections) if s == value]
        if sum(out) + len(group) <= target:
            for i in group:
                out[i] += 1
    for i in sorted(range(len(sections)), key=lambda i: exact[i] % 1, reverse=True):
        if sum(out) >= target:
            break
        out[i] += 1
    while sum(out) > target:
        out[out.index(max(out))] -= 1
    return out


def _set_mrope_sections(values: dict[str, Any], sections: list[int]) -> None:
    """Give every rotary config in the tree the model's default sections, sized to its head."""
    for value in values.values():
        if isinstance(value, dict):
            _set_mrope_sections(value, sections)
    rope = values.get("rope_parameters")
    if not isinstance(rope, dict) or "mrope_section" in rope or "rope_type" not in rope:
        return
    head = values.get("head_dim")
    hidden, heads = values.get("hidden_size"), values.get("num_attention_heads")
    if not isinstance(head, int) and isinstance(hidden, int) and isinstance(heads, int) and heads:
        head = hidden // heads
    if not isinstance(head, int):
        return
    factor = rope.get("partial_rotary_factor") or values.get("partial_rotary_factor") or 1.0
    target = int(head * factor) // 2
    if target >= len(sections):
        rope["mrope_section"] = _proportional(sections, target)


def tiny_config_dict(model_type: str) -> dict[str, Any]:
    """The shrunk, overridden config dict of `model_type` (see `tiny_config`)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    from skillsets.runtime.tiny_overrides import TINY_OVERRIDES

    override = TINY_OVERRIDES.get(model_type)
    config_class = CONFIG_MAPPING[model_type]
    base = dict(override.base) if override else {}
    default = config_class(**base)
    backbone = getattr(default, "backbone_config", None)
    if getattr(backbone, "model_type", None) == "timm_backbone":
        # timm is not installed; DETR-style configs fall back to their native AutoBackbone.
        default = config_class(**{**base, "use_timm_backbone": False})
    raw = default.to_dict()
    values = shrink_config_dict(raw)
    # The text model's own module holds the default when the type reuses it (glm46v -> glm4v),
    # also inside a whole VLM a retriever wraps (colqwen2 -> vlm_config -> qwen2_vl).
    wrapped = getattr(default, "vlm_config", None)
    text_type = getattr(getattr(default, "text_config", None), "model_type", None) or getattr(
        getattr(wrapped, "text_config", None), "model_type", None)
    sections = _mrope_default(model_type) or (
        _mrope_default(text_type) if isinstance(text_type, str) and text_type else None)
    if sections is not None:
        _set_mrope_sections(values, sections)
    return _merge(values, override.values, values) if override else values


def tiny_config(model_type: str) -> PreTrainedConfig:
    """A small config for `model_type`: its own default config with every size shrunk together.

    Args:
        model_type: A transformers model type with a config class (`bert`, `llava`...).

    Returns:
        The config, validated by transformers. Random-weight models built from it have a few
        million parameters and run a forward pass on CPU in well under a second.

    Raises:
        KeyError: `model_type` has no config class.
    """
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    return CONFIG_MAPPING[model_type].from_dict(tiny_config_dict(model_type))

"""The one table of hand-written exceptions to the catalog rules, each with its reason.

Everything else in the catalog is derived from transformers' own mappings and config classes
(`skillsets.families`). An entry here overrides only the fields it sets.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogException:
    """A correction to what the rules derive for one model type.

    Attributes:
        reason: Why the rules are wrong for this type (shown as the entry's note).
        family: Family to use instead, or None to keep the derived one.
        task: Primary task to use instead, or None.
        modality: Input modality to use instead, or None.
    """

    reason: str
    family: str | None = None
    task: str | None = None
    modality: str | None = None


EXCEPTIONS: dict[str, CatalogException] = {
    "decision_transformer": CatalogException(
        "reinforcement-learning policy over (state, action, return) trajectories, not a "
        "language, vision or audio model", family="other", task="feature-extraction",
        modality="trajectory"),
    "jev": CatalogException(
        "a decision head over a Qwen3.5 text model that picks among options of a templated "
        "question and state; not a language-model task", family="other", modality="text"),
    "videomt": CatalogException(
        "a video segmenter: its forward reads only `pixel_values_videos` (batch, frames, "
        "channels, height, width), and its config names no frame count", modality="video"),
    "instructblipvideo": CatalogException(
        "a video language model listed with image-to-text models: its forward reads clips "
        "(batch, frames, channels, height, width), placeholders for their features and the "
        "Q-Former's instruction", modality="video"),
    "trocr": CatalogException(
        "TrOCR's only Auto class is its text decoder (TrOCRForCausalLM); the image encoder comes "
        "from vision-encoder-decoder", family="decoder-only"),
    "clvp": CatalogException(
        "CLVP scores text against speech (a CLIP for speech): its inputs are text and audio",
        family="speech/audio", task="feature-extraction", modality="audio+text"),
    "clap": CatalogException(
        "CLAP embeds text and audio in one space (a CLIP for audio)",
        family="speech/audio", task="feature-extraction", modality="audio+text"),
    "pe_audio": CatalogException(
        "PE Audio embeds text and audio in one space (a CLIP for audio): its inputs are text "
        "and audio", family="speech/audio", task="feature-extraction", modality="audio+text"),
    "evolla": CatalogException(
        "a protein-text model listed with image-text-to-text models: it answers a question "
        "about a protein sequence, and reads no image", family="decoder-only",
        task="image-to-text", modality="text"),
    "gemma4_assistant": CatalogException(
        "its default config fails transformers' own validation (hidden_size_per_layer_input "
        "must be 0), so facts come from the mapping only; a drafting head for gemma4",
        family="decoder-only"),
    "muse_glimmer_assistant": CatalogException(
        "a drafting head for muse_glimmer: a small decoder over the main model's hidden states "
        "with no vocabulary of its own", family="decoder-only"),
    "vibevoice_acoustic_tokenizer_encoder": CatalogException(
        "VibeVoice's audio tokenizer encoder (waveform -> latents), nested under role names "
        "(`semantic_model_config`) the audio rules do not list", family="speech/audio",
        task="audio-feature-extraction", modality="audio"),
    "vibevoice_acoustic_tokenizer_decoder": CatalogException(
        "VibeVoice's audio tokenizer decoder (latents -> waveform); nothing nests it by role",
        family="speech/audio", task="audio-feature-extraction", modality="audio"),
}

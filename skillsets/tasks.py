"""The task registry: what a model is asked to do, which Auto class loads it, what it returns.

Each task names the transformers mapping
(`transformers.models.auto.modeling_auto.<X>_MAPPING_NAMES`) whose membership says a model type
can do it. The catalog picks one primary task per model type; the runtime looks up how to run
and post-process it by the same name.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.names import UnknownNameError


@dataclass(frozen=True)
class TaskSpec:
    """One task.

    Attributes:
        name: Task name, pipeline-style (`text-generation`, `image-classification`...).
        mapping: Short name of the transformers mapping (`CAUSAL_LM` for
            `MODEL_FOR_CAUSAL_LM_MAPPING_NAMES`; `MODEL` for `MODEL_MAPPING_NAMES`).
        auto_class: The Auto class that loads it, or "" when transformers has none for the mapping
            (the concrete class from the mapping is used then).
        generative: Whether running it means `generate()` rather than one forward pass.
        output: What the handler returns (`embedding`, `generated`, `logits`...).
    """

    name: str
    mapping: str
    auto_class: str
    generative: bool
    output: str


def _t(name: str, mapping: str, auto_class: str, output: str, generative: bool = False) -> TaskSpec:
    return TaskSpec(name, mapping, auto_class, generative, output)


_ALL = (
    _t("feature-extraction", "MODEL", "AutoModel", "embedding"),
    _t("text-generation", "CAUSAL_LM", "AutoModelForCausalLM", "generated", True),
    _t("text2text-generation", "SEQ_TO_SEQ_CAUSAL_LM", "AutoModelForSeq2SeqLM", "generated", True),
    _t("fill-mask", "MASKED_LM", "AutoModelForMaskedLM", "logits"),
    _t("text-classification", "SEQUENCE_CLASSIFICATION",
       "AutoModelForSequenceClassification", "logits"),
    _t("token-classification", "TOKEN_CLASSIFICATION", "AutoModelForTokenClassification", "logits"),
    _t("question-answering", "QUESTION_ANSWERING", "AutoModelForQuestionAnswering", "logits"),
    _t("text-encoding", "TEXT_ENCODING", "AutoModelForTextEncoding", "embedding"),
    _t("image-classification", "IMAGE_CLASSIFICATION", "AutoModelForImageClassification", "logits"),
    _t("image-feature-extraction", "MODEL", "AutoModel", "embedding"),
    _t("backbone", "BACKBONE", "AutoBackbone", "feature_maps"),
    _t("object-detection", "OBJECT_DETECTION", "AutoModelForObjectDetection", "detections"),
    _t("zero-shot-object-detection", "ZERO_SHOT_OBJECT_DETECTION",
       "AutoModelForZeroShotObjectDetection", "detections"),
    _t("semantic-segmentation", "SEMANTIC_SEGMENTATION",
       "AutoModelForSemanticSegmentation", "logits"),
    _t("instance-segmentation", "INSTANCE_SEGMENTATION",
       "AutoModelForInstanceSegmentation", "logits"),
    _t("universal-segmentation", "UNIVERSAL_SEGMENTATION",
       "AutoModelForUniversalSegmentation", "logits"),
    _t("image-segmentation", "IMAGE_SEGMENTATION", "AutoModelForImageSegmentation", "logits"),
    _t("depth-estimation", "DEPTH_ESTIMATION", "AutoModelForDepthEstimation", "depth"),
    _t("mask-generation", "MASK_GENERATION", "AutoModelForMaskGeneration", "masks"),
    _t("keypoint-detection", "KEYPOINT_DETECTION", "AutoModelForKeypointDetection", "keypoints"),
    _t("keypoint-matching", "KEYPOINT_MATCHING", "AutoModelForKeypointMatching", "matches"),
    _t("masked-image-modeling", "MASKED_IMAGE_MODELING",
       "AutoModelForMaskedImageModeling", "image"),
    _t("image-to-image", "IMAGE_TO_IMAGE", "AutoModelForImageToImage", "image"),
    _t("image-matting", "IMAGE_MATTING", "AutoModelForImageMatting", "image"),
    _t("normal-estimation", "NORMAL_ESTIMATION", "AutoModelForNormalEstimation", "image"),
    _t("pointmap-estimation", "POINTMAP_ESTIMATION", "AutoModelForPointmapEstimation", "image"),
    _t("pose-estimation", "POSE_ESTIMATION", "AutoModelForPoseEstimation", "keypoints"),
    _t("text-recognition", "TEXT_RECOGNITION", "AutoModelForTextRecognition", "logits"),
    _t("table-recognition", "TABLE_RECOGNITION", "AutoModelForTableRecognition", "logits"),
    _t("video-classification", "VIDEO_CLASSIFICATION", "AutoModelForVideoClassification", "logits"),
    _t("zero-shot-image-classification", "ZERO_SHOT_IMAGE_CLASSIFICATION",
       "AutoModelForZeroShotImageClassification", "logits"),
    _t("image-to-text", "IMAGE_TEXT_TO_TEXT", "AutoModelForImageTextToText", "generated", True),
    _t("image-text-to-text", "IMAGE_TEXT_TO_TEXT",
       "AutoModelForImageTextToText", "generated", True),
    _t("multimodal-lm", "MULTIMODAL_LM", "AutoModelForMultimodalLM", "generated", True),
    _t("automatic-speech-recognition", "SPEECH_SEQ_2_SEQ",
       "AutoModelForSpeechSeq2Seq", "generated", True),
    _t("ctc", "CTC", "AutoModelForCTC", "logits"),
    _t("rnnt", "RNNT", "AutoModelForRNNT", "logits"),
    _t("tdt", "TDT", "AutoModelForTDT", "logits"),
    _t("audio-classification", "AUDIO_CLASSIFICATION", "AutoModelForAudioClassification", "logits"),
    _t("audio-frame-classification", "AUDIO_FRAME_CLASSIFICATION",
       "AutoModelForAudioFrameClassification", "logits"),
    _t("audio-xvector", "AUDIO_XVECTOR", "AutoModelForAudioXVector", "embedding"),
    _t("audio-feature-extraction", "MODEL", "AutoModel", "embedding"),
    _t("text-to-audio", "TEXT_TO_WAVEFORM", "AutoModelForTextToWaveform", "audio"),
    _t("text-to-spectrogram", "TEXT_TO_SPECTROGRAM", "AutoModelForTextToSpectrogram", "audio"),
    _t("time-series-forecasting", "TIME_SERIES_PREDICTION", "AutoModelForTimeSeriesPrediction",
       "forecast"),
    _t("time-series-classification", "TIME_SERIES_CLASSIFICATION", "", "logits"),
    _t("time-series-regression", "TIME_SERIES_REGRESSION", "", "forecast"),
    _t("time-series-feature-extraction", "MODEL", "AutoModel", "embedding"),
    _t("decision", "DECISION", "AutoModelForDecision", "actions"),
    _t("retrieval", "RETRIEVAL", "", "embedding"),
    _t("document-question-answering", "DOCUMENT_QUESTION_ANSWERING",
       "AutoModelForDocumentQuestionAnswering", "logits"),
    _t("pretraining", "PRETRAINING", "AutoModelForPreTraining", "logits"),
    _t("causal-image-modeling", "CAUSAL_IMAGE_MODELING", "", "logits"),
)

TASKS: dict[str, TaskSpec] = {t.name: t for t in _ALL}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(name: str) -> TaskSpec:
    """The task called `name`; raises `UnknownNameError` with close matches otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownNameError("task", name, TASK_NAMES) from None

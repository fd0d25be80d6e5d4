"""Broad, actionable causes of failed and unsupported validation records.

`coverage.normalise_message` groups records whose messages are the same but for names and
numbers; many such groups share one cause a person can act on (every op OpenVINO's frontend has
no rule for, every task without an OpenVINO generate loop). `classify` maps a record to one of
`CAUSES`, an ordered registry of rules; the first that matches wins. A record no rule matches
gets `other`; the coverage report counts it, so a growing `other` says a rule is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    """One broad cause.

    Attributes:
        name: Short stable name (`openvino-unconverted-op`...).
        title: What happened, for people.
        hint: What to do about it.
        pattern: Regex searched in the normalised message; empty = any message.
        error_types: Error types it applies to; empty = any.
        hardware: Backend it applies to; empty = any.
    """

    name: str
    title: str
    hint: str
    pattern: str = ""
    error_types: frozenset[str] = frozenset()
    hardware: str = ""

    def matches(self, error_type: str, hardware: str, message: str) -> bool:
        """Whether a record with this error type, backend and normalised message has the cause."""
        return (
            (not self.error_types or error_type in self.error_types)
            and (not self.hardware or hardware == self.hardware)
            and (not self.pattern or re.search(self.pattern, message) is not None)
        )


def _types(*names: str) -> frozenset[str]:
    return frozenset(names)


#: The rules, most specific first.
CAUSES: tuple[Cause, ...] = (
    Cause(
        "openvino-no-generate-loop",
        "OpenVINO has no generate loop for this generative task (multimodal, "
        "vision-encoder-text-decoder)",
        "add the task's compiled generate path (vision tower + decoder) next to "
        "skillsets/runtime/openvino_generate.py; until then the task runs on cpu only",
        r"generate loop",
        _types("UnsupportedCombinationError"),
    ),
    Cause(
        "openvino-unconverted-op",
        "OpenVINO's PyTorch frontend has no conversion rule for an op the model runs",
        "replace the op while tracing with an equivalent of convertible ops "
        "(skillsets/runtime/openvino_exec.py TRACEABLE_REPLACEMENTS), or report the op to "
        "openvino's PyTorch frontend",
        r"no conversion rule for",
    ),
    Cause(
        "openvino-op-conversion-failed",
        "OpenVINO's PyTorch frontend has a rule for an op but it fails on the model's use of it "
        "(an input rank or shape it cannot infer, an internal op left over from another failure)",
        "replace the op while tracing with an equivalent of ops that convert "
        "(skillsets/runtime/openvino_exec.py TRACEABLE_REPLACEMENTS, as for aten::unfold), or "
        "report the op and the check the message names to openvino's PyTorch frontend",
        r"conversion failed for aten::",
        hardware="openvino",
    ),
    Cause(
        "openvino-graph-rewrite-failed",
        "every op converted, then OpenVINO's graph normalisation (a rewrite pass's shape "
        "inference) failed on the converted graph",
        "report it to openvino with the shape check the message names; meanwhile find the op "
        "behind it and replace it while tracing (skillsets/runtime/openvino_exec.py "
        "TRACEABLE_REPLACEMENTS), or convert at the shapes the run uses",
        r"normalize step failed",
        hardware="openvino",
    ),
    Cause(
        "openvino-encoder-output-incomplete",
        "the compiled encoder's output lacks a field the model's decoder reads from "
        "encoder_outputs (attention_mask, pooler_output, router_logits)",
        "return the torch encoder's own output type with every field from the compiled "
        "encoder (skillsets/runtime/openvino_generate.py `encode_outputs`)",
        r"'BaseModelOutput' object has no attribute",
        _types("AttributeError"),
        "openvino",
    ),
    Cause(
        "openvino-generate-batch-mismatch",
        "the runtime's decoder-only OpenVINO generate loop gets logits of another batch than the "
        "step it ran (state-space and MoE decoders, once the prompt grows past the traced "
        "length)",
        "reproduce with `load_skill(TYPE, 'openvino')` on a batch-2 prompt; the loop is "
        "skillsets/runtime/skill.py `_openvino_generate`, the re-conversion at new shapes "
        "skillsets/runtime/openvino_exec.py `OpenVinoExecutor.__call__`",
        r"Sizes of tensors must match except in dimension",
        _types("RuntimeError"),
        "openvino",
    ),
    Cause(
        "openvino-trace-kept-sizes",
        "the OpenVINO trace keeps sizes of its example (a loop over the sequence unrolled, a "
        "mask built from Python ints): every new input shape needs its own conversion, past "
        "the runtime's limit",
        "keep the size symbolic in the traced code path, or export with dynamic shapes "
        "(torch.export); the limit is skillsets/runtime/openvino_exec.py MAX_CONVERSIONS",
        r"keeps sizes of its example",
        hardware="openvino",
    ),
    Cause(
        "openvino-inference-rejected",
        "the compiled model rejects the run's inputs (a shape or type fixed at conversion)",
        "convert with dynamic input shapes, or convert at the shapes the run uses; the record's "
        "message names the input",
        r"inference rejected|infer_request|[Ee]xception from src|[Ii]nput.*shape|shape.*mismatch",
        _types("RuntimeError", "Exception"),
        "openvino",
    ),
    Cause(
        "openvino-graph-shape-invalid",
        "the converted graph fails OpenVINO's shape validation (a size the trace baked in)",
        "convert at the shapes the run uses, or keep the size symbolic in the traced code path "
        "(the message names the node)",
        r"While validating node",
        hardware="openvino",
    ),
    Cause(
        "openvino-example-rejected",
        "the torch model rejects the inputs the OpenVINO conversion traces it with",
        "build the conversion's example inputs as the task's own run does (decoder inputs, "
        "codebook layout) in skillsets/runtime/openvino_generate.py or the runtime's inputs",
        r"is invalid for input of size|size of tensor a|must match the size",
        _types("RuntimeError"),
        "openvino",
    ),
    Cause(
        "openvino-list-value",
        "a list or tuple reaches an op or an output where OpenVINO needs one tensor",
        "return tensors, not lists, from the traced forward (flatten nested outputs in the "
        "conversion wrapper), or stack the list in the model code path the trace takes",
        r"SequenceMark|ListConstruct|TupleConstruct",
    ),
    Cause(
        "openvino-none-constant",
        "an optional value is None inside the trace and an op consumes it",
        "pass the optional input explicitly in the example inputs, or drop it from the traced "
        "forward",
        r"None constant cannot be converted",
    ),
    Cause(
        "openvino-trace-failed",
        "torch.jit.trace cannot trace the forward (data-dependent control flow or "
        "non-tensor values)",
        "convert through torch.export (convert_model takes an ExportedProgram), or give "
        "example inputs that avoid the untraceable branch",
        r"[Tt]rac(e|ing|er)\b|TorchScript|torch\.jit",
        hardware="openvino",
    ),
    Cause(
        "openvino-non-tensor-inputs",
        "the runtime's prepared inputs include non-tensors, which OpenVINO cannot take",
        "turn the non-tensor inputs into tensors in the runtime's prepare, or bake them into "
        "the conversion wrapper",
        r"needs tensor inputs",
    ),
    Cause(
        "torch-attention-disagrees",
        "torch's sdpa and eager attention give different outputs on this model; the compiled "
        "model equals the eager one",
        "report it against the model's code in transformers (its mask under sdpa); no "
        "conversion can match both references",
        error_types=_types("TorchAttentionDisagrees"),
    ),
    Cause(
        "compiled-differs",
        "the compiled model's outputs or tokens differ from torch's beyond the limit",
        "check the op that produces the named output (the record names it), or the precision "
        "the backend executed",
        error_types=_types("CompiledMismatch", "CompiledTokensMismatch"),
    ),
    Cause(
        "batch-inconsistent",
        "rows of a batch depend on each other",
        "check padding and attention masks, or batch-dependent routing, in the runtime's inputs",
        error_types=_types("BatchInconsistent", "BatchUnsupported"),
    ),
    Cause(
        "missing-library",
        "a library the model or its preprocessing needs is not installed or not usable",
        "add the package to the project's dependencies, or record it as not installable "
        "beside this torch build",
        r"needs a library|not installed|not usable with this torch build|No module named|"
        r"requires the \w+ library",
    ),
    Cause(
        "inputs-not-buildable",
        "the runtime cannot build the inputs the model's forward needs",
        "teach the runtime's input builders (skillsets/runtime/inputs.py) to produce the named "
        "input",
        r"needs \w+, which|input builder does not produce|only its own \w+ processor produces|"
        r"rejects generically resized pixels",
    ),
    Cause(
        "catalog-class-undefined",
        "the catalog names a model class the installed transformers does not define",
        "regenerate the catalog against the installed transformers (skillsets/catalog.py), or "
        "install the transformers version that defines the class",
        r"is not defined by transformers",
    ),
    Cause(
        "checkpoint-only",
        "the model needs files only its real checkpoint has (the processor's prompt format, "
        "speaker voices), which a tiny random model lacks",
        "validate the real checkpoint (`skillsets validate TYPE --checkpoint PATH_OR_ID`); "
        "the tiny random model cannot run it",
        r"needs the checkpoint's processor files|is not available, available speakers",
    ),
    Cause(
        "assistant-needs-target",
        "an assistant (draft) model that runs only inside its target model's assisted "
        "generation, on the target's shared KV states or hidden states",
        "run it through its target (`generate(assistant_model=...)`) or exclude assistant "
        "types from the catalog's runnable models (skillsets/catalog.py)",
        r"shared_kv_states cannot be None|`get_seq_length` can only be called on Attention",
    ),
    Cause(
        "transformers-defect",
        "transformers' own code reads an attribute the type's config or class does not have",
        "a transformers defect: report it with the traceback's last frame, and mark the type in "
        "the catalog until a release fixes it",
        r"'(\{Class\}|\w+Config)' object has no attribute",
        _types("AttributeError"),
    ),
    Cause(
        "inputs-rejected",
        "the model rejects the inputs the runtime built for it (their shape or channels, an "
        "argument it does not take, a list where it wants a tensor, an empty list where it "
        "wants one entry per image or generated step)",
        "build the type's inputs as its own processor would (image size and channels from its "
        "config, the argument names its forward and generate take) in "
        "skillsets/runtime/inputs.py and prepare.py; an assistant's input is its target's "
        "hidden states",
        r"mat1 and mat2 shapes cannot be multiplied|input to conv\dd, but got input|"
        r"expected input.* to have \w+ channels|`model_kwargs` are not used by the model|"
        r"missing \w+ required positional argument|'list' object has no attribute|"
        r"expected a non-empty list of Tensors|expects a non-empty TensorList",
        _types("RuntimeError", "ValueError", "TypeError", "AttributeError"),
    ),
    Cause(
        "not-a-runnable-model",
        "the class is a component without a forward of its own",
        "exclude the type from the catalog's runnable models, or run it through its parent",
        r"defines no forward",
    ),
    Cause(
        "timeout",
        "the run did not finish in time",
        "profile the model at its tiny config; shrink it in the tiny-config overrides or raise "
        "--timeout",
        error_types=_types("Timeout"),
    ),
    Cause(
        "memory",
        "the run exceeded its memory limit",
        "the tiny config is not tiny: add an override that shrinks it",
        error_types=_types("MemoryLimitExceeded"),
    ),
    Cause(
        "crash",
        "a native library crashed",
        "reproduce with `skillsets validate TYPE --local`; report the signal and frame upstream",
        error_types=_types("Crash"),
    ),
    Cause(
        "non-finite-output",
        "the random initialisation gives NaN or inf",
        "initialise the tiny model's weights (or the named output's layer) in the runtime",
        error_types=_types("NonFiniteOutput"),
    ),
    Cause(
        "roundtrip",
        "the save_pretrained / from_pretrained round trip changes the outputs",
        "compare state_dict keys with the safetensors file; fix tied or non-persistent weights "
        "or the reloaded preprocessing",
        error_types=_types("RoundTripMismatch", "RoundTripPreprocessingMismatch", "RoundTripError"),
    ),
    Cause(
        "output-shape",
        "the task's outputs or inputs lack the batch dimension",
        "fix the runtime's run/postprocess or its synthetic inputs",
        error_types=_types("OutputShapeMismatch", "InputShapeMismatch", "NoOutput"),
    ),
    Cause(
        "unsupported-stated",
        "the runtime states it has no path for this task or precision here",
        "read the stated reason; it names what is missing",
        error_types=_types("UnsupportedCombinationError", "UnsupportedPrecisionError"),
    ),
)

#: What a record no rule matches gets.
OTHER = Cause(
    "other",
    "no rule classifies this failure yet",
    "read the record's traceback, then add a rule to skillsets/validation/causes.py",
)


def classify(error_type: str, hardware: str, message: str) -> Cause:
    """The first of `CAUSES` that matches, else `OTHER`.

    Args:
        error_type: The record's error type.
        hardware: The record's backend.
        message: Its message, normalised (`coverage.normalise_message`) or raw.
    """
    for cause in CAUSES:
        if cause.matches(error_type, hardware, message):
            return cause
    return OTHER

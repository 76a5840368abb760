"""The YAHPO Gym NAS-Bench-301 surrogate (an ONNX network) run by onnxruntime, in batches.

Its numbers are *predictions* of a model fitted to NAS-Bench-301's ~60k trained DARTS architectures
(YAHPO Gym; not the official NB301 ensemble), not accuracies of trained networks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.darts.genotype import Genotype
from benchmarks.nb301.encoding import COLUMNS, Encoding
from nasbench_errors import OracleError

#: the surrogate's last training epoch (its ``epoch`` input runs 1..98)
FINAL_EPOCH = 98
#: output columns (yahpo_gym ``benchmarks/nb301.py`` y_names); the harness reads the first
OUTPUTS = ("val_accuracy", "val_cross_entropy", "runtime", "runtime_increase")
BATCH = 4096


def onnxruntime() -> Any:  # noqa: ANN401 - the module
    """The onnxruntime module, or a one-line error naming the extra that installs it."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise OracleError("the nb301 oracle needs onnxruntime: pip install 'nasbench-harness[nb301]'") from None
    return ort


class Surrogate:
    """Predicted validation accuracy (fraction) of genotypes at an epoch; one CPU thread by default so that
    a query never competes with the search for cores (and answers do not depend on a thread count)."""

    def __init__(self, model: str | os.PathLike[str], encoding: str | os.PathLike[str], threads: int = 1) -> None:
        ort = onnxruntime()
        self.model_path = Path(model)
        if not self.model_path.is_file():
            raise OracleError(f"{self.model_path}: surrogate model not found; give the model_v2.onnx of the YAHPO "
                              "Gym nb301 surrogate")
        self.encoding = Encoding.load(encoding)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.model_path), sess_options=options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise OracleError(f"{self.model_path}: not an ONNX model onnxruntime can load "
                              f"({str(exc).splitlines()[0][:120]})") from None
        inputs = {i.name: (i.type, i.shape[1:]) for i in self.session.get_inputs()}
        outputs = [o.shape[1:] for o in self.session.get_outputs()]
        if (inputs != {"x_cat": ("tensor(int32)", [len(COLUMNS)]), "x_cont": ("tensor(float)", [1])}
                or outputs != [[len(OUTPUTS)]]):
            raise OracleError(f"{self.model_path}: not the NAS-Bench-301 surrogate (inputs {inputs}, outputs "
                              f"{outputs}; expected x_cat int32 [B, {len(COLUMNS)}], x_cont float [B, 1] -> "
                              f"[B, {len(OUTPUTS)}])")

    def predict(self, genotypes: Sequence[Genotype], epoch: int = FINAL_EPOCH) -> np.ndarray:
        """float64 [len(genotypes)]: predicted validation accuracy (0..1) after ``epoch`` epochs."""
        if not 1 <= epoch <= FINAL_EPOCH:
            raise OracleError(f"the surrogate predicts epochs 1..{FINAL_EPOCH}, not {epoch}")
        out = np.empty(len(genotypes), dtype=np.float64)
        for start in range(0, len(genotypes), BATCH):
            x_cat = self.encoding.encode(genotypes[start:start + BATCH])
            x_cont = np.full((len(x_cat), 1), float(epoch), dtype=np.float32)
            out[start:start + len(x_cat)] = self.session.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0][:, 0]
        return out

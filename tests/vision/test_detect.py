"""Detectors: the SSD model on real footage, and OnnxYolo's decoding on small ONNX graphs built
here whose output is known exactly (no YOLO weights can be downloaded; operators supply those)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from shequ_vision.detect import COCO90_LABELS, COCO_LABELS, Detection, OnnxYolo, SsdMobileNet, load_detector

from .conftest import read_frame


def test_coco90_label_map_matches_the_tf_object_detection_ids() -> None:
    assert len(COCO_LABELS) == 80 and len(COCO90_LABELS) == 80
    assert COCO90_LABELS[1] == "person" and COCO90_LABELS[3] == "car" and COCO90_LABELS[8] == "truck"
    assert COCO90_LABELS[13] == "stop sign" and COCO90_LABELS[67] == "dining table"
    assert COCO90_LABELS[90] == "toothbrush" and 12 not in COCO90_LABELS


def test_ssd_finds_the_person_entering_the_room(one_by_one: Path, ssd: SsdMobileNet) -> None:
    found = ssd.detect(read_frame(one_by_one, 800))
    people = [d for d in found if d.label == "person"]
    assert len(people) == 1 and people[0].score > 0.8
    x1, y1, x2, y2 = people[0].box
    # A standing person in the middle of the frame: tall and narrow, centre near x = 0.58.
    assert 0.4 < x1 < 0.55 and 0.6 < x2 < 0.8 and y1 < 0.2 and y2 > 0.75
    assert (y2 - y1) * 432 > 1.5 * (x2 - x1) * 768


def test_ssd_sees_nobody_in_the_empty_room(one_by_one: Path, ssd: SsdMobileNet) -> None:
    assert [d for d in ssd.detect(read_frame(one_by_one, 0)) if d.label == "person"] == []


def test_ssd_on_the_street_clip_finds_a_cyclist(bikes: Path, ssd: SsdMobileNet) -> None:
    found = ssd.detect(read_frame(bikes, 125))
    labels = {d.label for d in found if d.score >= 0.5}
    assert {"person", "bicycle"} <= labels
    person = max((d for d in found if d.label == "person"), key=lambda d: d.score)
    bicycle = max((d for d in found if d.label == "bicycle"), key=lambda d: d.score)
    # The rider sits above the bicycle: the bicycle's box is in the lower part of the person's.
    assert bicycle.box[1] > person.box[1] and abs(bicycle.box[3] - person.box[3]) < 0.1
    assert all(0 <= v <= 1 for d in found for v in d.box)


def test_ssd_class_filter(one_by_one: Path) -> None:
    only_cars = SsdMobileNet(classes=["car"])
    assert only_cars.detect(read_frame(one_by_one, 800)) == []


# --- OnnxYolo on constructed graphs -------------------------------------------------------------


def _model(tmp_path: Path, output: np.ndarray, size: int = 64) -> Path:
    """An ONNX graph with a YOLO-shaped input whose output is `output` (plus 0 x the input's mean,
    so the input is really consumed, as in a real model)."""
    const = numpy_helper.from_array(output.astype(np.float32), "raw")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["raw", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fake-yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))],
        initializer=[const, numpy_helper.from_array(np.array(0, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / "fake.onnx"
    onnx.save(model, str(path))
    return path


def _candidates(rows: Sequence[tuple[float, float, float, float, int, float]], nc: int = 80) -> np.ndarray:
    """YOLOv8 rows (cx, cy, w, h, class, score) -> (N, 4 + nc)."""
    out = np.zeros((len(rows), 4 + nc), np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(rows):
        out[i, :4] = (cx, cy, w, h)
        out[i, 4 + cls] = score
    return out


# The source image is 128x64; a 64x64 model letterboxes it to 64x32 with 16 px of padding above and
# below (scale 0.5). A box centred (32, 32), 32x16 in model pixels is (16, 24)-(48, 40), i.e.
# (32, 16)-(96, 48) in the source: exactly (0.25, 0.25, 0.75, 0.75) as fractions.
ROWS = [
    (32, 32, 32, 16, 0, 0.9),  # person: kept
    (33, 32, 32, 16, 0, 0.8),  # the same person again, lower score: removed by NMS
    (32, 32, 32, 16, 2, 0.7),  # a car at the same place: another class, NMS is class-wise, kept
    (8, 24, 8, 8, 0, 0.2),  # below min_score
]
IMAGE = np.zeros((64, 128, 3), np.uint8)


def _check(found: list[Detection]) -> None:
    assert [d.label for d in found] == ["person", "car"]
    assert found[0].score == pytest.approx(0.9) and found[1].score == pytest.approx(0.7)
    for d in found:
        assert d.box == pytest.approx((0.25, 0.25, 0.75, 0.75), abs=1e-6)


def test_onnx_yolov8_layout(tmp_path: Path) -> None:
    out = _candidates(ROWS).T[None]  # (1, 84, N)
    det = OnnxYolo(_model(tmp_path, out), min_score=0.3)
    assert det.size == (64, 64) and det.name == "onnx:fake.onnx"
    _check(det.detect(IMAGE))


def test_onnx_yolov5_layout_multiplies_objectness(tmp_path: Path) -> None:
    v8 = _candidates(ROWS)
    # (1, N, 85): objectness 0.5 and class confidence doubled give the same final scores.
    v5 = np.concatenate([v8[:, :4], np.full((len(ROWS), 1), 0.5, np.float32), v8[:, 4:] * 2], axis=1)[None]
    det = OnnxYolo(_model(tmp_path, v5), min_score=0.3)
    _check(det.detect(IMAGE))


def test_onnx_providers_fall_back_to_cpu_and_unknown_layouts_are_refused(tmp_path: Path) -> None:
    det = OnnxYolo(
        _model(tmp_path, _candidates(ROWS).T[None]),
        providers=["TensorrtExecutionProvider", "CUDAExecutionProvider"],
    )
    assert det.providers == ["CPUExecutionProvider"]
    bad = OnnxYolo(_model(tmp_path, np.zeros((1, 7, 10), np.float32)))
    with pytest.raises(ValueError, match="unexpected YOLO output shape"):
        bad.detect(IMAGE)


def test_load_detector_specs(tmp_path: Path) -> None:
    path = _model(tmp_path, _candidates(ROWS).T[None])
    assert isinstance(load_detector(f"onnx:{path}"), OnnxYolo)
    with pytest.raises(ValueError, match="unknown detector"):
        load_detector("yolo")
    with pytest.raises(FileNotFoundError):
        load_detector(f"onnx:{tmp_path / 'missing.onnx'}")

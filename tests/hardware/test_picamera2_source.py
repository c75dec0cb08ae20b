"""The Raspberry Pi camera source, against a double of the one object it calls: ``Picamera2``.

picamera2 and libcamera exist only on Raspberry Pi OS, so the double stands where the stand's
code meets picamera2, and checks what the code asks for against what the real ones accept: a
control the camera does not advertise is refused as picamera2's ``Controls.__setattr__``
refuses it ("Control X is not advertised by libcamera"), and every control name and enum value
is checked against libcamera's own table (src/libcamera/control_ids_core.yaml in
raspberrypi/libcamera), copied below.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hardware.camera import CameraStalled, CameraTuning, Picamera2Source, QrScanner
from tests.hardware.waiting import wait_until

# libcamera control id -> its enum (name -> value), or the Python type picamera2 passes on.
LIBCAMERA_CONTROLS: dict[str, Any] = {
    "AfMode": {"AfModeManual": 0, "AfModeAuto": 1, "AfModeContinuous": 2},
    "AfSpeed": {"AfSpeedNormal": 0, "AfSpeedFast": 1},
    "AfRange": {"AfRangeNormal": 0, "AfRangeMacro": 1, "AfRangeFull": 2},
    "AeMeteringMode": {
        "MeteringCentreWeighted": 0,
        "MeteringSpot": 1,
        "MeteringMatrix": 2,
        "MeteringCustom": 3,
    },
    "AeExposureMode": {
        "ExposureNormal": 0,
        "ExposureShort": 1,
        "ExposureLong": 2,
        "ExposureCustom": 3,
    },
    "ExposureValue": float,
    "LensPosition": float,  # dioptres; ignored unless AfMode is AfModeManual
    "ScalerCrop": tuple,  # a Rectangle (x, y, width, height) in sensor pixels
    "FrameDurationLimits": tuple,
}

# camera_controls as picamera2 reports them: name -> (min, max, default).
COMMON = {
    "AeMeteringMode": (0, 3, 0),
    "AeExposureMode": (0, 3, 0),
    "ExposureValue": (-8.0, 8.0, 0.0),
    "FrameDurationLimits": (33333, 120000, 33333),
}
CAMERA_MODULE_3 = COMMON | {  # imx708: autofocus
    "AfMode": (0, 2, 0),
    "AfSpeed": (0, 1, 0),
    "AfRange": (0, 2, 0),
    "LensPosition": (0.0, 15.0, 1.0),
    "ScalerCrop": ((0, 0, 64, 64), (0, 0, 4608, 2592), (576, 0, 3456, 2592)),
}
CAMERA_MODULE_2 = COMMON | {  # imx219: fixed focus
    "ScalerCrop": ((0, 0, 64, 64), (0, 0, 3280, 2464), (0, 0, 3280, 2464)),
}


class FakePicamera2:
    """Stands for ``picamera2.Picamera2``: the calls the source makes, checked, then recorded."""

    def __init__(self, controls: dict[str, tuple[Any, Any, Any]], stride: int = 640) -> None:
        self.camera_controls = controls
        self.stride = stride
        self.controls: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.calls: list[str] = []
        self.waits: list[Any] = []
        self.stalled = False
        self.frame = bytes(range(256)) * (stride * 480 * 3 // 2 // 256 + 1)

    def create_preview_configuration(self, **config: Any) -> dict[str, Any]:
        return dict(config)

    def configure(self, config: dict[str, Any]) -> None:
        self.config = config
        self.calls.append("configure")

    def stream_configuration(self, name: str) -> dict[str, Any]:
        assert name == "lores"
        return {"size": self.config["lores"]["size"], "stride": self.stride}

    def set_controls(self, controls: dict[str, Any]) -> None:
        for name, value in controls.items():
            if name not in self.camera_controls:  # picamera2's Controls.__setattr__
                raise RuntimeError(f"Control {name} is not advertised by libcamera")
            self.controls[name] = value
        self.calls.append("set_controls")

    def start(self) -> None:
        self.calls.append("start")

    def capture_buffer(self, name: str = "main", wait: Any = None) -> memoryview:
        self.waits.append(wait)
        if self.stalled:  # picamera2: job.get_result(timeout=wait) raises TimeoutError
            threading.Event().wait(wait)
            raise TimeoutError
        return memoryview(self.frame)

    def cancel_all_and_flush(self) -> None:
        self.calls.append("cancel_all_and_flush")

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


def started(camera: FakePicamera2, tuning: CameraTuning | None = None) -> Picamera2Source:
    source = Picamera2Source(tuning=tuning, open_camera=lambda: camera)
    source.start()
    return source


def assert_valid_for_libcamera(controls: dict[str, Any], available: dict[str, Any]) -> None:
    for name, value in controls.items():
        kind = LIBCAMERA_CONTROLS[name]
        if isinstance(kind, dict):
            assert value in kind.values(), (name, value)
        else:
            assert isinstance(value, kind), (name, value)
        low, high, _ = available[name]
        if isinstance(value, float):
            assert low <= value <= high, (name, value)


def test_camera_module_3_focuses_continuously_crops_the_middle_and_meters_the_screen() -> None:
    camera = FakePicamera2(CAMERA_MODULE_3)
    started(camera)
    assert camera.calls == ["configure", "set_controls", "start"]
    controls = camera.controls
    assert controls["AfMode"] == LIBCAMERA_CONTROLS["AfMode"]["AfModeContinuous"]
    assert controls["AfSpeed"] == LIBCAMERA_CONTROLS["AfSpeed"]["AfSpeedFast"]
    assert controls["AeMeteringMode"] == LIBCAMERA_CONTROLS["AeMeteringMode"]["MeteringSpot"]
    assert controls["AeExposureMode"] == LIBCAMERA_CONTROLS["AeExposureMode"]["ExposureShort"]
    assert controls["ExposureValue"] == -0.5
    assert "LensPosition" not in controls  # libcamera ignores it outside manual focus
    # The middle half of the 4608x2592 view, 4:3 like the stream: 1728x1296 at (1440, 648).
    assert controls["ScalerCrop"] == (1440, 648, 1728, 1296)
    assert_valid_for_libcamera(controls, CAMERA_MODULE_3)
    assert camera.config["lores"] == {"size": (640, 480), "format": "YUV420"}
    assert camera.config["controls"] == {"FrameDurationLimits": (100000, 100000)}


def test_a_configured_lens_position_sets_manual_focus_there() -> None:
    camera = FakePicamera2(CAMERA_MODULE_3)
    started(camera, CameraTuning(lens_position=4.0, zoom=1.5, exposure_value=-1.0))
    controls = camera.controls
    assert controls["AfMode"] == LIBCAMERA_CONTROLS["AfMode"]["AfModeManual"]
    assert controls["LensPosition"] == 4.0
    assert "AfSpeed" not in controls
    assert controls["ExposureValue"] == -1.0
    x, y, width, height = controls["ScalerCrop"]
    assert (width, height) == (2304, 1728) and (x + width / 2, y + height / 2) == (2304, 1296)
    assert_valid_for_libcamera(controls, CAMERA_MODULE_3)


def test_a_module_without_autofocus_is_not_asked_for_focus() -> None:
    camera = FakePicamera2(CAMERA_MODULE_2)
    started(camera)  # the real picamera2 would raise on AfMode here
    assert set(camera.controls) == {
        "AeMeteringMode",
        "AeExposureMode",
        "ExposureValue",
        "ScalerCrop",
    }
    assert camera.controls["ScalerCrop"] == (820, 617, 1640, 1230)
    assert_valid_for_libcamera(camera.controls, CAMERA_MODULE_2)


def test_zoom_one_keeps_the_whole_view() -> None:
    camera = FakePicamera2(CAMERA_MODULE_3)
    started(camera, CameraTuning(zoom=1.0))
    assert "ScalerCrop" not in camera.controls


def test_a_frame_is_the_y_plane_without_the_row_padding() -> None:
    camera = FakePicamera2(CAMERA_MODULE_3, stride=704)
    source = started(camera)
    frame = source.read(0.1)
    assert frame is not None and frame.size == (640, 480) and frame.mode == "L"
    assert (
        frame.getpixel((0, 1)) == camera.frame[704]
        and frame.getpixel((5, 2)) == camera.frame[2 * 704 + 5]
    )
    assert camera.waits == [2.0]  # every capture has a timeout


def test_a_stalled_camera_raises_instead_of_hanging_and_is_reopened() -> None:
    cameras: list[FakePicamera2] = []

    def open_camera() -> FakePicamera2:
        camera = FakePicamera2(CAMERA_MODULE_3)
        camera.stalled = True
        cameras.append(camera)
        return camera

    source = Picamera2Source(tuning=CameraTuning(capture_timeout_s=0.05), open_camera=open_camera)
    source.start()
    with pytest.raises(CameraStalled):
        source.read(0.1)
    assert cameras[0].waits == [0.05]
    assert cameras[0].calls[-1] == "cancel_all_and_flush"
    source.close()
    assert cameras[0].calls[-2:] == ["stop", "close"]

    with QrScanner(source, print) as scanner:
        scanner.start()
        wait_until(lambda: len(cameras) >= 3, what="the stalled camera to be reopened")
        assert "CameraStalled" in scanner.health().last_error
    assert all(camera.calls[-1] == "close" for camera in cameras)

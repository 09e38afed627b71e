"""A PTZ camera nobody here wrote: ipycam's virtual ONVIF camera (PyPI), headless, on loopback.

Usage: ipycam_camera.py HOST HTTP_PORT RTSP_PORT USER PASSWORD DIRECTORY   (with the venv of onvif_peers.sh;
DIRECTORY holds its ptz_presets.json: {"gate": {"token": "gate", "name": "gate", "pan": ..}})
Prints "ready" once serving. ONVIF (device, media, PTZ services, WS-UsernameToken required on every
call), the snapshot (/snapshot.jpg, HTTP Basic) and /api/ptz (the head's position, JSON) share
HTTP_PORT. It is run as shipped but for three things a test machine needs: its servers bind
HOST only (a loopback address), its WS-Discovery responder (UDP 3702, multicast) stays off, and frames are drawn
here instead of read from a webcam.
"""
import os
import sys
import time

import numpy as np
import ipycam.camera as camera_module
from ipycam import CameraConfig, IPCamera

host, http_port, rtsp_port, user, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
# ipycam reads (and writes) ptz_presets.json in its working directory.
os.chdir(sys.argv[6])


class LoopbackHTTP(camera_module.ReusableThreadingTCPServer):
    def __init__(self, address, handler):
        super().__init__((host, address[1]), handler)


class LoopbackRTSP(camera_module.NativeRTSPServer):
    def __init__(self, port):
        super().__init__(port=port, host=host)


class NoDiscovery:
    def __init__(self, *args):
        pass

    def start(self):
        pass

    def stop(self):
        pass


camera_module.ReusableThreadingTCPServer = LoopbackHTTP
camera_module.NativeRTSPServer = LoopbackRTSP
camera_module.WSDiscoveryServer = NoDiscovery

config = CameraConfig(local_ip=host, onvif_port=http_port, rtsp_port=rtsp_port,
                      go2rtc_api_port=1,  # no go2rtc here: its own RTSP server
                      username=user, password=password, show_timestamp=False,
                      main_width=320, main_height=240, main_fps=5, sub_width=160, sub_height=120, sub_fps=5)
cam = IPCamera(config)
cam.start()
print("ready", flush=True)
frame = 0
while cam.is_running:
    # A moving gradient, so snapshots are real pictures that change.
    x = np.arange(320, dtype=np.uint16)
    row = ((x + frame * 7) % 256).astype(np.uint8)
    image = np.repeat(np.repeat(row[None, :, None], 240, axis=0), 3, axis=2)
    cam.stream(image)
    frame += 1
    time.sleep(0.2)

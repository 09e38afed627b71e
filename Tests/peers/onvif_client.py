"""An ONVIF client nobody here wrote (onvif-zeep-async, PyPI: zeep with the standard WSDLs) against
a camera: finds its services, the first media profile, the presets, sends GotoPreset by preset
name, reads GetStatus and GetSnapshotUri. Prints one JSON line: profile, presets (name -> token),
position, snapshotUri.

Usage: onvif_client.py HOST PORT USER PASSWORD PRESET_NAME   (USER and PASSWORD may be "")
"""
import asyncio
import json
import sys

from onvif import ONVIFCamera


async def main(host, port, user, password, preset_name):
    cam = ONVIFCamera(host, port, user, password)
    try:
        await cam.update_xaddrs()
        media = await cam.create_media_service()
        profile = (await media.GetProfiles())[0].token
        ptz = await cam.create_ptz_service()
        presets = {p.Name: p.token for p in await ptz.GetPresets({"ProfileToken": profile})}
        await ptz.GotoPreset({"ProfileToken": profile, "PresetToken": presets[preset_name]})
        status = await ptz.GetStatus({"ProfileToken": profile})
        position = status.Position
        snapshot = await media.GetSnapshotUri({"ProfileToken": profile})
        print(json.dumps({"profile": profile, "presets": presets, "snapshotUri": snapshot.Uri,
                          "position": {"pan": position.PanTilt.x, "tilt": position.PanTilt.y, "zoom": position.Zoom.x}}), flush=True)
    finally:
        await cam.close()


asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]))

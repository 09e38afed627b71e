#!/usr/bin/python3
"""A real RTSP server nobody here wrote: GStreamer's gst-rtsp-server, serving a Motion-JPEG test
pattern at rtsp://127.0.0.1:PORT/stream1 with Digest authentication.

Usage: gst_rtsp_server.py PORT USER PASSWORD
Prints "ready" once listening. Needs Debian's python3-gi, python3-gst-1.0,
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-base and -good; run it with /usr/bin/python3.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

Gst.init(None)
port, user, password = sys.argv[1], sys.argv[2], sys.argv[3]

server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)

factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch("( videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=5/1 "
                   "! jpegenc ! rtpjpegpay name=pay0 pt=26 )")
factory.set_shared(True)
permissions = GstRtspServer.RTSPPermissions()
permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
factory.set_permissions(permissions)
server.get_mount_points().add_factory("/stream1", factory)

auth = GstRtspServer.RTSPAuth()
token = GstRtspServer.RTSPToken()
token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
auth.add_digest(user, password, token)
auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
server.set_auth(auth)

if server.attach(None) == 0:
    print("cannot listen on port " + port, file=sys.stderr, flush=True)
    sys.exit(1)
print("ready", flush=True)
GLib.MainLoop().run()

import Foundation
import ConfigLoader
import ParkGuardCore
import Testing

private func t(_ seconds: UInt64) -> MonotonicInstant { MonotonicInstant(nanoseconds: seconds * 1_000_000_000) }

@Suite("PTZ: which camera turns where, and the ONVIF answers it reads")
struct PTZTests {
    let gate = CameraLink(id: "cam-gate", preset: "gate-bell", home: "home", returnAfter: .seconds(60))
    let wide = CameraLink(id: "cam-wide", preset: "north", home: nil)
    let unturned = CameraLink(id: "cam-fixed")

    @Test("a press turns every linked camera with a preset at once, and names the press's alarm")
    func pressTurns() {
        var planner = PTZPlanner()
        let moves = planner.pressed(bell: "b1", alarm: "A1", links: [gate, wide, unturned], at: t(0))
        #expect(moves == [PTZPlanner.Move(camera: "cam-gate", preset: "gate-bell", bell: "b1", alarm: "A1", reason: .press),
                          PTZPlanner.Move(camera: "cam-wide", preset: "north", bell: "b1", alarm: "A1", reason: .press)])
        #expect(planner.nextDeadline == nil)
    }

    @Test("pressing again and again sends the camera to the preset it moved to at most once every 10 s; another preset goes at once; a failed move is tried again")
    func repeatedPresses() {
        var planner = PTZPlanner()
        #expect(planner.pressed(bell: "b1", alarm: "A0", links: [gate], at: t(0)).count == 1)
        // The camera did not accept it: the next press tries again.
        #expect(planner.pressed(bell: "b1", alarm: "A1", links: [gate], at: t(0)).count == 1)
        planner.moved(camera: "cam-gate", preset: "gate-bell", at: t(0))
        #expect(planner.pressed(bell: "b1", alarm: "A2", links: [gate], at: t(5)).isEmpty)
        let other = CameraLink(id: "cam-gate", preset: "path")
        #expect(planner.pressed(bell: "b2", alarm: "A3", links: [other], at: t(6)).map(\.preset) == ["path"])
        planner.moved(camera: "cam-gate", preset: "path", at: t(6))
        #expect(planner.pressed(bell: "b1", alarm: "A4", links: [gate], at: t(7)).map(\.preset) == ["gate-bell"])
        #expect(planner.pressed(bell: "b1", alarm: "A5", links: [gate], at: t(17)).map(\.alarm) == ["A5"])
    }

    @Test("the release brings a camera home after returnAfter, once; a camera without home stays")
    func returnHome() {
        var planner = PTZPlanner()
        _ = planner.pressed(bell: "b1", alarm: "A1", links: [gate, wide], at: t(0))
        planner.released(bell: "b1", links: [gate, wide], at: t(100))
        #expect(planner.nextDeadline == t(160))
        #expect(planner.due(at: t(159)).isEmpty)
        #expect(planner.due(at: t(160)) == [PTZPlanner.Move(camera: "cam-gate", preset: "home", bell: "b1", alarm: nil, reason: .home)])
        #expect(planner.due(at: t(500)).isEmpty)
        #expect(planner.nextDeadline == nil)
    }

    @Test("a new press before the return cancels it; with two bells on one camera, only the last release brings it home")
    func holders() {
        var planner = PTZPlanner()
        _ = planner.pressed(bell: "b1", alarm: "A1", links: [gate], at: t(0))
        planner.released(bell: "b1", links: [gate], at: t(10))
        _ = planner.pressed(bell: "b1", alarm: "A2", links: [gate], at: t(11))
        #expect(planner.due(at: t(1000)).isEmpty)

        let other = CameraLink(id: "cam-gate", preset: "path", home: "home", returnAfter: .seconds(30))
        _ = planner.pressed(bell: "b2", alarm: "A3", links: [other], at: t(500))
        planner.released(bell: "b1", links: [gate], at: t(1000))
        #expect(planner.nextDeadline == nil, "b2 still holds the camera")
        planner.released(bell: "b2", links: [other], at: t(1010))
        #expect(planner.due(at: t(1040)).map(\.bell) == ["b2"])
        // A release without a press before it changes nothing.
        planner.released(bell: "b9", links: [gate], at: t(2000))
        #expect(planner.nextDeadline == nil)
    }

    @Test("GetCapabilities gives the services' paths (not the camera's idea of its address); profiles need a PTZ configuration; presets by name")
    func answers() {
        let capabilities = """
            <s:Envelope><s:Body><tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>http://10.0.0.9/onvif/device_service</tt:XAddr></tt:Device>\
            <tt:Media><tt:XAddr>http://192.168.1.64:8080/onvif/Media</tt:XAddr></tt:Media>\
            <tt:PTZ><tt:XAddr>http://192.168.1.64:8080/onvif/PTZ?x=1</tt:XAddr></tt:PTZ></tds:Capabilities></tds:GetCapabilitiesResponse></s:Body></s:Envelope>
            """
        let paths = ONVIFPTZ.servicePaths(in: capabilities)
        #expect(paths.media == "/onvif/Media")
        #expect(paths.ptz == "/onvif/PTZ?x=1")
        #expect(ONVIFPTZ.servicePaths(in: "<tt:Media><tt:XAddr>http://cam</tt:XAddr></tt:Media>").media == "/")
        #expect(ONVIFPTZ.servicePaths(in: "<tt:Media><tt:XAddr>not a url</tt:XAddr></tt:Media>").media == nil)

        let profiles = """
            <trt:GetProfilesResponse><trt:Profiles fixed="true" token="fixed-1"><tt:Name>sub</tt:Name></trt:Profiles>\
            <trt:Profiles token='Profile_2' fixed="false"><tt:Name>main</tt:Name><tt:PTZConfiguration token="p"/></trt:Profiles></trt:GetProfilesResponse>
            """
        #expect(ONVIFPTZ.ptzProfiles(in: profiles) == ["Profile_2"])

        let presets = """
            <tptz:GetPresetsResponse><tptz:Preset token="1"><tt:Name>home</tt:Name></tptz:Preset>\
            <tptz:Preset token="7"><tt:Name>gate &amp; bell</tt:Name><tt:PTZPosition/></tptz:Preset><tptz:Preset token="9"/>\
            <tptz:Preset><tt:Name>no token</tt:Name></tptz:Preset></tptz:GetPresetsResponse>
            """
        #expect(ONVIFPTZ.presets(in: presets) == ["home": "1", "gate & bell": "7", "9": "9"])
        #expect(XMLElementText.attribute("token", in: #"<a:P x="1" a:token="t&amp;1">"#) == "t&1")
        #expect(XMLElementText.attribute("token", in: #"<P tokens="x">"#) == nil)
    }

    @Test("one move at a time per camera: a move asked meanwhile waits and starts when the first ends, a newer one replaces it, a press to the preset under way is dropped")
    func lanes() throws {
        func move(_ camera: String, _ preset: String, _ reason: PTZPlanner.Move.Reason = .press) -> PTZPlanner.Move {
            PTZPlanner.Move(camera: camera, preset: preset, bell: "b1", alarm: reason == .press ? "A" : nil, reason: reason)
        }
        var lanes = PTZLanes()
        #expect(lanes.admit(move("c1", "gate")) == move("c1", "gate"))
        #expect(lanes.admit(move("c2", "gate")) == move("c2", "gate"), "another camera is not held up")
        #expect(lanes.admit(move("c1", "gate")) == nil, "the same preset is under way")
        #expect(lanes.admit(move("c1", "home", .home)) == nil)
        #expect(lanes.admit(move("c1", "path")) == nil)
        let finished = lanes.finish("c1")
        let next = try #require(finished)
        #expect(next == move("c1", "path"), "the newest waiting move replaced the return home")
        #expect(lanes.admit(next) == move("c1", "path"), "the waiting move starts when admitted")
        let none = lanes.finish("c1")
        #expect(none == nil)
        #expect(lanes.admit(move("c1", "gate")) == move("c1", "gate"))
    }

    @Test("an answer with a tag that never ends is read up to that tag, not scanned again from every later '<'")
    func unterminatedTag() {
        let hostile = "<Envelope><Name>gate</Name><x a=\"" + String(repeating: "<Name q='", count: 20_000)
        #expect(XMLElementText.all("Name", in: hostile) == ["gate"])
        #expect(ONVIFPTZ.presets(in: "<Preset token=\"1\"><Name>" + String(repeating: "n", count: 500) + "</Name></Preset>").keys.first?.count == 64)
    }

    @Test("the requests escape the tokens they carry")
    func requests() {
        let body = ONVIFPTZ.gotoPreset(profile: "p<1>", preset: "a&b", token: nil)
        #expect(body.contains("<tptz:ProfileToken>p&lt;1&gt;</tptz:ProfileToken><tptz:PresetToken>a&amp;b</tptz:PresetToken>"))
        #expect(ONVIFPTZ.getPresets(profile: "x", token: nil).contains("xmlns:tptz=\"http://www.onvif.org/ver20/ptz/wsdl\""))
    }

    @Test("a link's home and returnAfter are read; home without preset, a bad preset name or a return too soon is refused")
    func configuration() throws {
        let base = "site: s\nunit: u\nbroker: {host: 127.0.0.1}\ngpio: {backend: sim, socket: /tmp/x.sock}\n"
        let config = try ConfigFile.parse(base + """
            cameras:
              - {id: c1, host: 10.0.0.5, onvif: {port: 80}}
            bells:
              - {id: b1, line: 1, cameras: [{id: c1, preset: gate, home: home, returnAfter: 30s}]}
              - {id: b2, line: 2, cameras: [{id: c1}]}
            """, file: "agent.yaml")
        #expect(config.bells[0].cameras == [CameraLink(id: "c1", preset: "gate", home: "home", returnAfter: .seconds(30))])
        #expect(config.bells[1].cameras[0].returnAfter == CameraLink.defaultReturnAfter)
        do {
            _ = try ConfigFile.parse(base + """
                cameras:
                  - {id: c1, host: 10.0.0.5}
                bells:
                  - {id: b1, line: 1, cameras: [{id: c1, home: home}]}
                  - {id: b2, line: 2, cameras: [{id: c1, preset: "a<b"}]}
                  - {id: b3, line: 3, cameras: [{id: c1, preset: gate, returnAfter: 1s}]}
                """, file: "agent.yaml")
            Issue.record("accepted")
        } catch {
            let found = error.errors.map { "\($0.key): \($0.message)" }
            #expect(found.contains { $0.hasPrefix("bells[0].cameras[0].home: needs 'preset'") }, "\(found)")
            #expect(found.contains { $0.hasPrefix("bells[1].cameras[0].preset: must be a preset name") }, "\(found)")
            #expect(found.contains { $0.hasPrefix("bells[2].cameras[0].returnAfter") }, "\(found)")
        }
    }

    @Test("the alarm's camera links carry id, preset and health only: home and returnAfter stay in the configuration")
    func contract() throws {
        let link = CameraLink(id: "c1", preset: "gate", health: .ok, home: "home", returnAfter: .seconds(30))
        let json = String(decoding: try JSONEncoder().encode(link), as: UTF8.self)
        #expect(!json.contains("home") && !json.contains("returnAfter"))
        #expect(try JSONDecoder().decode(CameraLink.self, from: Data(json.utf8)) == CameraLink(id: "c1", preset: "gate", health: .ok))
    }
}

import Foundation
import HubIngest

/// The units' self-test reports in the hub's database: the newest of each unit restores the
/// console's list when the hub restarts (a broker without persistence forgets retained reports),
/// and the history shows how a unit fared over the months.
public protocol SelfTestLog: Sendable {
    /// Records `report` of `unit` (once per unit and report time); keeps the newest
    /// ``SelfTestLogLimits/keptPerUnit`` of each unit.
    func record(selfTest report: SelfTestView, of unit: UnitKey, receivedAt: Date) async throws
    /// The newest report of every unit.
    func latestSelfTests() async throws -> [UnitKey: SelfTestView]
    /// A unit's reports, newest first, at most `limit`.
    func selfTests(of unit: UnitKey, limit: Int) async throws -> [SelfTestView]
}

public enum SelfTestLogLimits {
    /// Two years of weekly tests.
    public static let keptPerUnit = 104
}

extension SelfTestView {
    /// The problems as the logs store them (a JSON array), and back.
    public var problemsJSON: String { String(decoding: (try? JSONEncoder().encode(problems)) ?? Data("[]".utf8), as: UTF8.self) }

    public static func problems(from json: String?) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data((json ?? "[]").utf8))) ?? []
    }
}

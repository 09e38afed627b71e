import Foundation
import ParkGuardCore

/// One thing the control room must see to: a unit whose self-test failed, is overdue or never
/// came, or a certificate that expires soon (or has).
public struct UnitCheckItem: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case selfTestFailed, certificateExpired, selfTestOverdue, certificateExpiring, noSelfTest
    }
    public var site: String
    public var unit: String
    public var kind: Kind
    /// The failed checks, or how overdue, or how many days are left.
    public var detail: String
    /// The test's time, or the certificate's expiry (RFC 3339).
    public var time: String?
}

/// What the console lists under "Self-tests and certificates". Pure.
public enum UnitChecks {
    /// Every item for `units`, worst kind first, then by unit.
    /// - Parameters:
    ///   - maxAge: a self-test older than this is overdue, for a unit whose report does not say
    ///     when the next is due (with `nextDue`, a day past it).
    ///   - certificateWarning: a certificate expiring within this is listed.
    public static func attention(_ units: [UnitView], now: Date, maxAge: TimeInterval,
                                 certificateWarning: TimeInterval = 30 * 86_400) -> [UnitCheckItem] {
        var items: [UnitCheckItem] = []
        for view in units {
            let site = view.key.site, unit = view.key.unit
            if let test = view.selfTest {
                let age = RFC3339.date(test.time).map { now.timeIntervalSince($0) } ?? .infinity
                // A unit that says when its next test is due is overdue a day after that (its own
                // schedule); one that does not, after `maxAge`.
                let late = test.nextDue.flatMap(RFC3339.date).map { now.timeIntervalSince($0) > 86_400 } ?? (age > maxAge)
                if !test.passed {
                    items.append(UnitCheckItem(site: site, unit: unit, kind: .selfTestFailed,
                                               detail: test.problems.isEmpty ? "failed" : test.problems.joined(separator: "; "), time: test.time))
                } else if late {
                    items.append(UnitCheckItem(site: site, unit: unit, kind: .selfTestOverdue,
                                               detail: "last self-test \(days(age)) ago", time: test.time))
                }
            } else {
                items.append(UnitCheckItem(site: site, unit: unit, kind: .noSelfTest, detail: "no self-test report", time: nil))
            }
            if let expires = view.certificateExpires, let date = RFC3339.date(expires) {
                let left = date.timeIntervalSince(now)
                if left <= 0 {
                    items.append(UnitCheckItem(site: site, unit: unit, kind: .certificateExpired,
                                               detail: "certificate expired \(days(-left)) ago", time: expires))
                } else if left <= certificateWarning {
                    items.append(UnitCheckItem(site: site, unit: unit, kind: .certificateExpiring,
                                               detail: "certificate expires in \(days(left))", time: expires))
                }
            }
        }
        let order = Dictionary(uniqueKeysWithValues: UnitCheckItem.Kind.allCases.enumerated().map { ($1, $0) })
        return items.sorted { (order[$0.kind]!, $0.site, $0.unit) < (order[$1.kind]!, $1.site, $1.unit) }
    }

    private static func days(_ seconds: TimeInterval) -> String {
        if seconds < 86_400 { return "\(max(1, Int(seconds / 3600))) h" }
        let count = Int(seconds / 86_400)
        return "\(count) day\(count == 1 ? "" : "s")"
    }
}

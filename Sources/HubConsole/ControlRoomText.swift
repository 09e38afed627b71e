import Foundation
import ParkGuardCore
import ParkGuardHub

/// The lines `parkguard-hub incidents`, `alarms` and `audit` print for people, in the operator's
/// language, from ``ConsoleCatalogue`` (the page's words). Times stay RFC 3339 UTC.
public enum ControlRoomText {
    /// `2026-12-05T10:00:00Z  park/unit  b1  call  4 events  acknowledged … by anna, resolved … by anna: false alarm (note)  ID`
    public static func incident(_ incident: IncidentRecord, _ language: ConsoleLanguage) -> String {
        func t(_ key: String, _ arguments: [String: String] = [:]) -> String { ConsoleCatalogue.text(key, language, arguments) }
        let ack = incident.acknowledgedAt.map { t("cli.acknowledged", ["time": time($0), "who": incident.acknowledgedBy ?? "?"]) } ?? t("cli.notAcknowledged")
        let resolved = incident.resolvedAt.map {
            t("cli.resolved", ["time": time($0), "who": incident.resolvedBy ?? "?", "outcome": incident.outcome.map { t("outcome." + $0.rawValue) } ?? "?"])
        } ?? t("cli.open")
        let note = incident.note.map { $0.isEmpty ? "" : " (\($0.replacingOccurrences(of: "\n", with: " ")))" } ?? ""
        let place = incident.location?.description.map { "  \($0)" } ?? ""
        return "\(incident.raisedAt)  \(incident.unit)  \(incident.bell)\(place)  \(t("incident." + incident.kind.rawValue))  "
            + "\(t("cli.events", ["count": String(incident.events)]))  \(ack)\(resolved)\(note)  \(incident.id)"
    }

    /// One alarm row: raised, unit, bell, kind, seq, delivered, acknowledged, cleared, id.
    public static func alarm(_ alarm: AlarmRecord, _ language: ConsoleLanguage) -> String {
        func t(_ key: String, _ arguments: [String: String] = [:]) -> String { ConsoleCatalogue.text(key, language, arguments) }
        let ack = alarm.acknowledgedAt.map { t("cli.alarmAcknowledged", ["time": time($0), "who": alarm.acknowledgedBy ?? "?"]) } ?? t("cli.notAcknowledged")
        let cleared = alarm.clearedAt.map { t("cli.alarmCleared", ["time": time($0)]) } ?? ""
        return "\(alarm.raisedAt)  \(alarm.unit)  \(alarm.bell)  \(t("kind." + alarm.kind.rawValue))  \(t("cli.seq", ["seq": String(alarm.seq)]))  "
            + "\(t("cli.delivered", ["time": time(alarm.deliveredAt)]))  \(ack)\(cleared)  \(alarm.id)"
    }

    /// One audit row: when, who, what, on what, detail, from where.
    public static func audit(_ entry: AuditEntry, _ language: ConsoleLanguage) -> String {
        "\(time(entry.at))  \(entry.actor)  \(ConsoleCatalogue.text("action." + entry.action.rawValue, language))  \(entry.target)  \(entry.detail)  "
            + ConsoleCatalogue.text("cli.from", language, ["address": entry.address])
    }

    private static func time(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}

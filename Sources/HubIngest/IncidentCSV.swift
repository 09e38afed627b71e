import Foundation
import ParkGuardCore

/// Incidents as text: CSV rows for a period's export (RFC 4180) and one-line summaries.
public enum IncidentCSV {
    public static let header = "id,site,unit,bell,kind,raised_at,opened_at,events,acknowledged_at,acknowledged_by,resolved_at,resolved_by,outcome,note,cameras"

    /// One RFC 4180 row (no line end).
    public static func row(_ incident: IncidentRecord) -> String {
        [incident.id, incident.unit.site, incident.unit.unit, incident.bell, incident.kind.rawValue, incident.raisedAt, time(incident.openedAt),
         String(incident.events), incident.acknowledgedAt.map(time) ?? "", incident.acknowledgedBy ?? "", incident.resolvedAt.map(time) ?? "",
         incident.resolvedBy ?? "", incident.outcome?.rawValue ?? "", incident.note ?? "",
         incident.cameras.map { "\($0.id):\($0.health?.rawValue ?? "unknown")" }.joined(separator: " ")]
            .map(field).joined(separator: ",")
    }

    /// A field as a spreadsheet reads it safely: quoted when it holds a comma, quote or line end;
    /// a field that starts like a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading apostrophe,
    /// so a note typed by an operator never runs as a formula where the export is opened.
    public static func field(_ text: String) -> String {
        var text = text
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `2026-12-05T10:00:00Z  park/unit  b1  call  4 events  acknowledged … by anna  resolved … by anna: falseAlarm  ID`
    public static func summary(_ incident: IncidentRecord) -> String {
        let ack = incident.acknowledgedAt.map { "acknowledged \(time($0)) by \(incident.acknowledgedBy ?? "?")" } ?? "not acknowledged"
        let resolved = incident.resolvedAt.map { ", resolved \(time($0)) by \(incident.resolvedBy ?? "?"): \(incident.outcome?.rawValue ?? "?")" } ?? ", open"
        let note = incident.note.map { $0.isEmpty ? "" : " (\($0.replacingOccurrences(of: "\n", with: " ")))" } ?? ""
        return "\(incident.raisedAt)  \(incident.unit)  \(incident.bell)  \(incident.kind.rawValue)  \(incident.events) events  \(ack)\(resolved)\(note)  \(incident.id)"
    }

    private static func time(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}

import Foundation
import ParkGuardCore

/// Incidents as CSV rows for a period's export (RFC 4180).
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

    private static func time(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}

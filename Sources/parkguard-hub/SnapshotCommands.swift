import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ParkGuardHub

/// `parkguard-hub snapshots`: the cameras' pictures of an incident, listed or written to files.
struct Snapshots: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List an incident's camera pictures, or write them as JPEG files (for the police, an insurer, a report).")

    @Option(help: "The hub's database: a SQLite file or postgres://user[:password]@host[:port]/database.")
    var db = "parkguard-hub.sqlite"

    @Option(help: "The incident (its opening alarm's id, as the console and 'parkguard-hub incidents' show it).")
    var incident: String

    @Option(help: ArgumentHelp("Write the pictures into this directory (created if needed; existing files are not overwritten).", valueName: "dir"))
    var export: String?

    @Flag(help: "JSON lines instead of a table.")
    var json = false

    func validate() throws {
        guard !incident.isEmpty, incident.utf8.count <= 64, !incident.contains(where: { $0.isNewline || $0 == "/" }) else {
            throw ValidationError("--incident must be an alarm id (1 to 64 bytes, no '/' or line break)")
        }
    }

    func run() async throws {
        let log = try await openExistingLog(db)
        let pictures = try await log.snapshots(ofIncidents: [incident])[incident] ?? []
        if pictures.isEmpty, try await log.incident(id: incident) == nil {
            FileHandle.standardError.write(Data("parkguard-hub: no incident \(incident)\n".utf8))
            throw ExitCode(66)
        }
        if let export {
            do { try FileManager.default.createDirectory(atPath: export, withIntermediateDirectories: true) } catch {
                FileHandle.standardError.write(Data("parkguard-hub: --export \(export): \(error.localizedDescription)\n".utf8))
                throw ExitCode(73)
            }
        }
        for picture in pictures {
            var path: String?
            if let export {
                guard let (_, jpeg) = try await log.snapshot(id: picture.id) else { continue }  // pruned meanwhile
                // The unit's time, camera and stage name the file; the JPEG keeps its comment segment.
                let stamp = picture.takenAt.replacingOccurrences(of: ":", with: "")
                let file = "\(export)/\(stamp)-\(picture.unit.site)-\(picture.unit.unit)-\(picture.camera)-\(picture.stage).jpg"
                // Created here and now: an existing file, or a link planted under the name, is refused.
                let descriptor = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640)
                guard descriptor >= 0 else {
                    let reason = errno == EEXIST ? "exists; not overwritten" : String(cString: strerror(errno))
                    FileHandle.standardError.write(Data("parkguard-hub: \(file): \(reason)\n".utf8))
                    throw ExitCode(73)
                }
                let written = jpeg.withUnsafeBytes { bytes -> Bool in
                    guard let base = bytes.baseAddress else { return fsync(descriptor) == 0 }
                    var offset = 0
                    while offset < bytes.count {
                        let count = write(descriptor, base + offset, bytes.count - offset)
                        if count < 0, errno == EINTR { continue }
                        guard count > 0 else { return false }
                        offset += count
                    }
                    return fsync(descriptor) == 0
                }
                close(descriptor)
                guard written else {
                    FileHandle.standardError.write(Data("parkguard-hub: cannot write \(file): \(String(cString: strerror(errno)))\n".utf8))
                    throw ExitCode(74)
                }
                path = file
            }
            if json {
                struct Line: Encodable { var snapshot: SnapshotRef; var file: String? }
                try printJSONLine(Line(snapshot: picture, file: path))
            } else {
                print("\(picture.takenAt)  \(picture.unit)  \(picture.camera)  \(picture.stage)  \(picture.width)x\(picture.height)  \(picture.bytes) bytes\(picture.scaled ? " (scaled)" : "")\(path.map { "  → \($0)" } ?? "")")
            }
        }
    }
}

import Foundation

#if FUZZING
import CLibFuzzer

/// The target libFuzzer drives; a C callback cannot capture it.
// nonisolated(unsafe): written once, before the driver starts, and read only by libFuzzer's one
// thread afterwards.
nonisolated(unsafe) private var selected: FuzzTarget?

/// The entry point of a `-sanitize=fuzzer` build (`Tests/Fuzz/run`): `parkguard-fuzz TARGET
/// [libFuzzer flags and corpus directories]`. SwiftPM links executables with `main` aliased to
/// `parkguard_fuzz_main`, so this is `main`; libFuzzer's own would need `-parse-as-library`.
@_cdecl("parkguard_fuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    let arguments = CommandLine.arguments
    if arguments.count == 2, arguments[1] == "list" {
        for target in FuzzTargets.all { print("\(target.name)\t\(target.maxLength)\t\(target.summary)") }
        return 0
    }
    guard arguments.count >= 2, let target = FuzzTargets.named(arguments[1]) else {
        let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
        FileHandle.standardError.write(Data("usage: parkguard-fuzz TARGET [libFuzzer flags] [corpus...]; targets: \(names)\n".utf8))
        return 64
    }
    selected = target
    // libFuzzer sees the program name and everything after the target.
    var kept: [UnsafeMutablePointer<CChar>?] = [argv?[0]] + (2 ..< Int(argc)).map { argv?[$0] } + [nil]
    var count = argc - 1
    return kept.withUnsafeMutableBufferPointer { buffer in
        var base: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
        return parkguard_fuzz_run_driver(&count, &base) { data, size in fuzzOne(data, size) }
    }
}

/// One input for the selected target. Also exported under libFuzzer's own name: its archive's
/// `main` object references it, and the linker loads that object whether or not it is used.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let target = selected else {
        FileHandle.standardError.write(Data("parkguard-fuzz: no target selected (run it as `parkguard-fuzz TARGET …`)\n".utf8))
        exit(64)
    }
    target.run(size == 0 ? [] : [UInt8](UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
import ArgumentParser

/// `parkguard-fuzz`, built as usual: lists the fuzz targets and replays saved inputs through
/// them (the committed corpus and every past finding, in the test suite). Fuzzing itself needs the
/// libFuzzer build that `Tests/Fuzz/run` makes.
@main
struct ParkGuardFuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parkguard-fuzz",
        abstract: "Fuzz targets of every parser of untrusted input; this build replays saved inputs.",
        subcommands: [List.self, Replay.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each target, its input and its -max_len.")
        func run() {
            for target in FuzzTargets.all { print("\(target.name)\t\(target.maxLength)\t\(target.summary)") }
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run saved inputs through their targets: each DIR holds one folder per target (corpus/config/…).")

        @Argument(help: "Folders with one sub-folder per target.")
        var directories: [String]

        func run() throws {
            var inputs = 0
            for directory in directories {
                let folders = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
                for folder in folders {
                    var isFolder: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: directory + "/" + folder, isDirectory: &isFolder), isFolder.boolValue else { continue }
                    guard let target = FuzzTargets.named(folder) else {
                        throw ValidationError("\(directory)/\(folder): no fuzz target of that name (see `parkguard-fuzz list`)")
                    }
                    let path = directory + "/" + folder
                    for file in try FileManager.default.contentsOfDirectory(atPath: path).sorted() {
                        guard let bytes = FileManager.default.contents(atPath: path + "/" + file) else { continue }
                        target.run([UInt8](bytes))
                        inputs += 1
                    }
                }
            }
            print("replayed \(inputs) inputs")
        }
    }
}
#endif

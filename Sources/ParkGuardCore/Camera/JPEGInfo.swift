/// The frame header of a baseline or progressive JPEG, read without decoding it: the probe's
/// first check that a snapshot is a whole image (SOI at the start, EOI at the end, a frame header
/// with sane dimensions in between).
public struct JPEGInfo: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var components: Int

    public init(width: Int, height: Int, components: Int) {
        self.width = width
        self.height = height
        self.components = components
    }

    /// Reads `bytes`.
    /// - Throws: ``RTSPParseError`` naming what is wrong with the image.
    public static func read(_ bytes: [UInt8]) throws(RTSPParseError) -> JPEGInfo {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { throw RTSPParseError("not a JPEG: no SOI marker at the start") }
        var end = bytes.count
        // Some encoders pad the file after EOI with zeros or a line break.
        while end > 2, bytes[end - 1] == 0 || bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        guard bytes[end - 2] == 0xFF, bytes[end - 1] == 0xD9 else { throw RTSPParseError("truncated JPEG: no EOI marker at the end") }
        var index = 2
        while index + 4 <= end {
            guard bytes[index] == 0xFF else { throw RTSPParseError("corrupt JPEG: expected a marker at byte \(index)") }
            let marker = bytes[index + 1]
            if marker == 0xFF { index += 1; continue }
            if marker == 0xD8 || (0xD0 ... 0xD7).contains(marker) || marker == 0x01 { index += 2; continue }
            let length = Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
            guard length >= 2, index + 2 + length <= end else { throw RTSPParseError("corrupt JPEG: segment at byte \(index) runs past the end") }
            if [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF].contains(marker) {
                guard length >= 8 else { throw RTSPParseError("corrupt JPEG: short frame header") }
                let height = Int(bytes[index + 5]) << 8 | Int(bytes[index + 6])
                let width = Int(bytes[index + 7]) << 8 | Int(bytes[index + 8])
                let components = Int(bytes[index + 9])
                guard width > 0, height > 0, [1, 3, 4].contains(components) else {
                    throw RTSPParseError("corrupt JPEG: frame header says \(width)x\(height) with \(components) components")
                }
                return JPEGInfo(width: width, height: height, components: components)
            }
            if marker == 0xDA { break }
            index += 2 + length
        }
        throw RTSPParseError("corrupt JPEG: no frame header before the image data")
    }
}

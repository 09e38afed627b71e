import ParkGuardCore

/// JPEG frames as RTP packets (RFC 2435), for the simulated cameras' video after PLAY.
///
/// A frame must be a baseline JPEG with three components, 4:2:0 chroma (type 1), 8-bit
/// quantization tables, the standard Huffman tables and no restart markers, as TurboJPEG writes
/// it. The tables go in band (Q = 255) in each frame's first packet, so any receiver rebuilds the
/// image without knowing the encoder's quality.
enum RTPJPEG {
    struct Frame: Sendable {
        var width: Int
        var height: Int
        /// The luma table, then the chroma table: 64 bytes each, in zigzag order as in DQT.
        var tables: [UInt8]
        /// The entropy-coded scan, without the EOI marker.
        var scan: [UInt8]
    }

    struct Unsupported: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// Splits `jpeg` into what RTP/JPEG sends.
    static func frame(_ jpeg: [UInt8]) throws -> Frame {
        guard jpeg.count > 4, jpeg[0] == 0xFF, jpeg[1] == 0xD8 else { throw Unsupported("not a JPEG (no SOI)") }
        var tables: [Int: [UInt8]] = [:]
        var components: [(sampling: UInt8, table: Int)] = []
        var width = 0, height = 0
        var index = 2
        while index + 4 <= jpeg.count {
            guard jpeg[index] == 0xFF else { throw Unsupported("no marker at byte \(index)") }
            let marker = jpeg[index + 1]
            let length = Int(jpeg[index + 2]) << 8 | Int(jpeg[index + 3])
            let body = index + 4
            let end = index + 2 + length
            guard length >= 2, end <= jpeg.count else { throw Unsupported("segment 0x\(String(marker, radix: 16)) runs past the file") }
            switch marker {
            case 0xDB:
                var at = body
                while at + 65 <= end {
                    guard jpeg[at] >> 4 == 0 else { throw Unsupported("16-bit quantization table") }
                    tables[Int(jpeg[at] & 0x0F)] = Array(jpeg[at + 1 ..< at + 65])
                    at += 65
                }
            case 0xC0:
                height = Int(jpeg[body + 1]) << 8 | Int(jpeg[body + 2])
                width = Int(jpeg[body + 3]) << 8 | Int(jpeg[body + 4])
                let count = Int(jpeg[body + 5])
                guard count == 3, body + 6 + 9 <= end else { throw Unsupported("\(count) components, RTP/JPEG types 0 and 1 need 3") }
                components = (0 ..< 3).map { (jpeg[body + 6 + $0 * 3 + 1], Int(jpeg[body + 6 + $0 * 3 + 2])) }
            case 0xC1 ... 0xCF where marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
                throw Unsupported("not a baseline JPEG (SOF 0x\(String(marker, radix: 16)))")
            case 0xDD:
                throw Unsupported("restart markers need RTP/JPEG types 64 and up")
            case 0xDA:
                guard components.map(\.sampling) == [0x22, 0x11, 0x11] else { throw Unsupported("chroma is not 4:2:0") }
                guard let luma = tables[components[0].table], let chroma = tables[components[1].table] else {
                    throw Unsupported("a component's quantization table is missing")
                }
                var scanEnd = jpeg.count
                if scanEnd >= 2, jpeg[scanEnd - 2] == 0xFF, jpeg[scanEnd - 1] == 0xD9 { scanEnd -= 2 }
                guard width > 0, height > 0, width <= 2040, height <= 2040, width % 16 == 0, height % 16 == 0 else {
                    throw Unsupported("\(width)x\(height) is not a multiple of 16 up to 2040")
                }
                return Frame(width: width, height: height, tables: luma + chroma, scan: Array(jpeg[end ..< scanEnd]))
            default:
                break
            }
            index = end
        }
        throw Unsupported("no scan (SOS) in the JPEG")
    }

    /// The RTP packets of `frame`: payload type 26, the marker bit on the last one.
    static func packets(_ frame: Frame, sequence: inout UInt16, timestamp: UInt32, ssrc: UInt32, maxPayload: Int = 1400) -> [[UInt8]] {
        var packets: [[UInt8]] = []
        var offset = 0
        repeat {
            var packet: [UInt8] = []
            packet.reserveCapacity(12 + 8 + 132 + maxPayload)
            let headerSize = 8 + (offset == 0 ? 4 + frame.tables.count : 0)
            let take = min(maxPayload - headerSize, frame.scan.count - offset)
            let last = offset + take == frame.scan.count
            packet += [0x80, (last ? 0x80 : 0) | 26, UInt8(sequence >> 8), UInt8(sequence & 0xFF)]
            packet += [UInt8(timestamp >> 24), UInt8(timestamp >> 16 & 0xFF), UInt8(timestamp >> 8 & 0xFF), UInt8(timestamp & 0xFF)]
            packet += [UInt8(ssrc >> 24), UInt8(ssrc >> 16 & 0xFF), UInt8(ssrc >> 8 & 0xFF), UInt8(ssrc & 0xFF)]
            // Type-specific 0, fragment offset, type 1 (4:2:0), Q 255 (tables in band), size in 8-pixel blocks.
            packet += [0, UInt8(offset >> 16 & 0xFF), UInt8(offset >> 8 & 0xFF), UInt8(offset & 0xFF),
                       1, 255, UInt8(frame.width / 8), UInt8(frame.height / 8)]
            if offset == 0 {
                packet += [0, 0, UInt8(frame.tables.count >> 8), UInt8(frame.tables.count & 0xFF)] + frame.tables
            }
            packet += frame.scan[offset ..< offset + take]
            packets.append(packet)
            sequence &+= 1
            offset += take
        } while offset < frame.scan.count
        return packets
    }
}

import CTurboJPEG

/// libjpeg-turbo's TurboJPEG API behind two calls: decode a snapshot to a small grey image, and
/// encode a grey frame (for the simulator's cameras). One TurboJPEG handle per call, so the type
/// holds no C state and is safe from any thread.
public enum JPEGCodec {
    /// A decoded, downscaled grey image.
    public struct GreyImage: Sendable, Equatable {
        public var width: Int
        public var height: Int
        public var pixels: [UInt8]

        /// Mean of the pixel values, 0–255.
        public var meanLuma: Double {
            pixels.isEmpty ? 0 : Double(pixels.reduce(0) { $0 + Int($1) }) / Double(pixels.count)
        }
    }

    /// Why TurboJPEG refused an image.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Decodes `jpeg` at 1/8 scale (the DCT's DC terms only: cheap), as grey.
    public static func decodeThumbnail(_ jpeg: [UInt8]) throws(Failure) -> GreyImage {
        guard let handle = tjInitDecompress() else { throw Failure(description: "cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        let (width, height) = try dimensions(of: jpeg, handle)
        let scaledWidth = (Int(width) + 7) / 8
        let scaledHeight = (Int(height) + 7) / 8
        var pixels = [UInt8](repeating: 0, count: scaledWidth * scaledHeight)
        let result = jpeg.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                tjDecompress2(handle, source.baseAddress, UInt(source.count), target.baseAddress, Int32(scaledWidth), 0,
                              Int32(scaledHeight), Int32(TJPF_GRAY.rawValue), TJFLAG_FASTDCT | TJFLAG_STOPONWARNING)
            }
        }
        guard result == 0 else { throw failure(handle, "data") }
        return GreyImage(width: scaledWidth, height: scaledHeight, pixels: pixels)
    }

    /// Encodes a grey image as a baseline JPEG: one grey component, or (`colour`) three YCbCr
    /// components with 4:2:0 chroma, as RTP/JPEG (RFC 2435, type 1) carries them.
    public static func encodeGrey(_ pixels: [UInt8], width: Int, height: Int, quality: Int = 75, colour: Bool = false) throws(Failure) -> [UInt8] {
        guard pixels.count == width * height, width > 0, height > 0 else { throw Failure(description: "pixel count does not match \(width)x\(height)") }
        guard let handle = tjInitCompress() else { throw Failure(description: "cannot start the JPEG encoder") }
        defer { tjDestroy(handle) }
        // libjpeg cannot turn a grey source into YCbCr: give it grey RGB.
        let source = colour ? pixels.flatMap { [$0, $0, $0] } : pixels
        let format = colour ? TJPF_RGB : TJPF_GRAY
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let result = source.withUnsafeBufferPointer { source in
            tjCompress2(handle, source.baseAddress, Int32(width), 0, Int32(height), Int32(format.rawValue), &output, &size,
                        Int32((colour ? TJSAMP_420 : TJSAMP_GRAY).rawValue), Int32(quality), TJFLAG_FASTDCT)
        }
        defer { if let output { tjFree(output) } }
        guard result == 0, let output else { throw failure(handle, "encode") }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }

    /// A picture made to fit a size and width bound.
    public struct Fitted: Sendable, Equatable {
        public var jpeg: [UInt8]
        public var width: Int
        public var height: Int
        /// Decoded and encoded again, smaller.
        public var scaled: Bool
    }

    /// `jpeg` as it is when it is within `maxBytes` and `maxWidth`; else decoded at the smallest
    /// power-of-two reduction (down to an eighth) that brings it within `maxWidth` and
    /// `maxWidth`² pixels (the DCT does the scaling: a 4K picture is never decoded whole, and a
    /// tall one cannot make the decoder's buffer large) and encoded again (4:2:0), at lower
    /// quality and then half the size until it is within `maxBytes`.
    /// - Throws: ``Failure`` when the picture is not a JPEG TurboJPEG can read, when even an
    ///   eighth of it is over the width or pixel bound, or when its smallest form is over `maxBytes`.
    public static func fit(_ jpeg: [UInt8], maxBytes: Int, maxWidth: Int) throws(Failure) -> Fitted {
        guard let handle = tjInitDecompress() else { throw Failure(description: "cannot start the JPEG decoder") }
        defer { tjDestroy(handle) }
        let (width, height) = try dimensions(of: jpeg, handle)
        if jpeg.count <= maxBytes, Int(width) <= maxWidth {
            return Fitted(jpeg: jpeg, width: Int(width), height: Int(height), scaled: false)
        }
        func scaled(_ denominator: Int) -> (width: Int, height: Int) {
            ((Int(width) + denominator - 1) / denominator, (Int(height) + denominator - 1) / denominator)
        }
        func within(_ denominator: Int) -> Bool {
            let size = scaled(denominator)
            return size.width <= maxWidth && size.width * size.height <= maxWidth * maxWidth
        }
        var denominator = 1
        while denominator < 8, !within(denominator) { denominator *= 2 }
        guard within(denominator) else {
            throw Failure(description: "the picture (\(width)x\(height)) is over \(maxWidth) pixels wide or \(maxWidth)² pixels even at an eighth of its size")
        }
        while denominator <= 8 {
            let (scaledWidth, scaledHeight) = scaled(denominator)
            var pixels = [UInt8](repeating: 0, count: scaledWidth * scaledHeight * 3)
            let result = jpeg.withUnsafeBufferPointer { source in
                pixels.withUnsafeMutableBufferPointer { target in
                    tjDecompress2(handle, source.baseAddress, UInt(source.count), target.baseAddress, Int32(scaledWidth), 0,
                                  Int32(scaledHeight), Int32(TJPF_RGB.rawValue), TJFLAG_FASTDCT)
                }
            }
            guard result == 0 else { throw failure(handle, "data") }
            for quality in [80, 65, 50, 35] {
                let encoded = try encode(pixels, width: scaledWidth, height: scaledHeight, quality: quality)
                if encoded.count <= maxBytes {
                    return Fitted(jpeg: encoded, width: scaledWidth, height: scaledHeight, scaled: true)
                }
            }
            denominator *= 2
        }
        throw Failure(description: "the picture (\(width)x\(height), \(jpeg.count) bytes) does not fit in \(maxBytes) bytes even at 1/8 of its size")
    }

    /// Encodes RGB pixels with 4:2:0 chroma.
    private static func encode(_ rgb: [UInt8], width: Int, height: Int, quality: Int) throws(Failure) -> [UInt8] {
        guard let handle = tjInitCompress() else { throw Failure(description: "cannot start the JPEG encoder") }
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let result = rgb.withUnsafeBufferPointer { source in
            tjCompress2(handle, source.baseAddress, Int32(width), 0, Int32(height), Int32(TJPF_RGB.rawValue), &output, &size,
                        Int32(TJSAMP_420.rawValue), Int32(quality), TJFLAG_FASTDCT)
        }
        defer { if let output { tjFree(output) } }
        guard result == 0, let output else { throw failure(handle, "encode") }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }

    /// The picture's dimensions from its header, within 16384×16384.
    private static func dimensions(of jpeg: [UInt8], _ handle: tjhandle) throws(Failure) -> (Int32, Int32) {
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = jpeg.withUnsafeBufferPointer { buffer in
            tjDecompressHeader3(handle, buffer.baseAddress, UInt(buffer.count), &width, &height, &subsampling, &colorspace)
        }
        guard header == 0 else { throw failure(handle, "header") }
        guard width > 0, height > 0, width <= 16384, height <= 16384 else {
            throw Failure(description: "image dimensions \(width)x\(height) out of range")
        }
        return (width, height)
    }

    private static func failure(_ handle: tjhandle, _ stage: String) -> Failure {
        let text = tjGetErrorStr2(handle).map { String(cString: $0) } ?? "unknown error"
        return Failure(description: "JPEG \(stage): \(text)")
    }
}
